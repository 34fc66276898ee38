"""The simulator's side of RabbitMQ: vhosts, users, queues and publishing, as Mastermind does them.

Everything goes through the RabbitMQ management HTTP API (one pooled `requests` session per
thread), never through `rabbitmqctl`, so a call costs milliseconds. The broker itself is the one
`tests/services/rabbitmq up` starts; `Broker.from_env()` reads the variables that script prints.

Waldur's conventions reproduced here (see ../shared/notes/waldur-api.md §5):

- one vhost per Waldur user (the user's uuid hex); one RabbitMQ user per event subscription (its
  uuid hex) or per agent identity queue (`rmq_username`), whose password is the API token, with
  `.*` configure/write/read on that vhost;
- durable queues with Waldur's arguments (`QUEUE_ARGUMENTS`);
- messages on the default exchange with the queue name as routing key, persistent, JSON, with the
  headers Mastermind's STOMP publisher leaves on them. A consumer subscribed to
  `/amq/queue/<name>` receives them with `destination: /queue/<name>`, exactly as it receives
  Mastermind's own `SEND /amq/queue/<name>` (checked against a real node).

Passwords never appear in logs or in error messages.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import requests

log = logging.getLogger(__name__)

QUEUE_ARGUMENTS: dict[str, Any] = {
    "x-message-ttl": 3_600_000,
    "x-max-length": 10_000,
    "x-overflow": "reject-publish-dlx",
    "x-dead-letter-exchange": "",
    "x-dead-letter-routing-key": "waldur.dlq.messages",
}
ALL = ".*"
ENV_PREFIX = "WALDUR_TEST_RABBITMQ_"


class BrokerError(Exception):
    """A management API call failed; `status` is the HTTP status when there was a response."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class BrokerUnavailable(BrokerError):
    """The management API did not answer (node down, restarting, wrong port)."""


class QueueNotFound(BrokerError):
    """A publish was not routed: the queue does not exist in that vhost."""


def _q(name: str) -> str:
    """One path segment of the management API: every character escaped, `/` included."""
    return quote(name, safe="")


class Broker:
    """RabbitMQ driven through its management API (`mgmt_url` ends in `/api/`)."""

    def __init__(
        self,
        mgmt_url: str,
        admin_user: str,
        admin_password: str,
        *,
        ws_url: str | None = None,
        stomp_port: int | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.mgmt_url = mgmt_url if mgmt_url.endswith("/") else mgmt_url + "/"
        self.admin_user = admin_user
        self._auth = (admin_user, admin_password)
        self.ws_url = ws_url
        self.stomp_port = stomp_port
        self.timeout = timeout
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"Broker({self.mgmt_url!r}, admin_user={self.admin_user!r})"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Broker:
        """The broker `tests/services/rabbitmq up` printed (`WALDUR_TEST_RABBITMQ_*`)."""
        env = os.environ if environ is None else environ
        missing = [
            ENV_PREFIX + key
            for key in ("MGMT_URL", "ADMIN_USER", "ADMIN_PASSWORD")
            if not env.get(ENV_PREFIX + key)
        ]
        if missing:
            raise BrokerError(
                f"{', '.join(missing)} not set: run `tests/services/rabbitmq up` and export "
                "what it prints"
            )
        stomp_port = env.get(ENV_PREFIX + "STOMP_PORT")
        return cls(
            env[ENV_PREFIX + "MGMT_URL"],
            env[ENV_PREFIX + "ADMIN_USER"],
            env[ENV_PREFIX + "ADMIN_PASSWORD"],
            ws_url=env.get(ENV_PREFIX + "WS_URL") or None,
            stomp_port=int(stomp_port) if stomp_port else None,
        )

    # Web-STOMP endpoint, split the way stomp.py's WSStompConnection wants it.

    @property
    def ws_host(self) -> str:
        return urlsplit(self._require_ws()).hostname or "127.0.0.1"

    @property
    def ws_port(self) -> int:
        parts = urlsplit(self._require_ws())
        return parts.port or (443 if parts.scheme == "wss" else 80)

    @property
    def ws_path(self) -> str:
        return urlsplit(self._require_ws()).path or "/"

    def _require_ws(self) -> str:
        if not self.ws_url:
            raise BrokerError("this Broker was made without a Web-STOMP URL (ws_url)")
        return self.ws_url

    # HTTP plumbing.

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.auth = self._auth
            session.headers["content-type"] = "application/json"
            self._local.session = session
        return session

    def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        ok_missing: bool = False,
        what: str = "",
        headers: dict[str, str] | None = None,
    ) -> Any:
        """One management API call; the decoded JSON body, or None for an empty one.

        `ok_missing`: a 404 returns None instead of raising. `what` names the object in errors,
        since the request body (it may hold a password) never goes into one.
        """
        url = self.mgmt_url + path
        try:
            response = self._session().request(
                method,
                url,
                data=None if body is None else json.dumps(body),
                headers=headers,
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise BrokerUnavailable(
                f"RabbitMQ management API at {self.mgmt_url} unreachable "
                f"({method} {path}): {type(exc).__name__}: {exc}"
            ) from exc
        log.debug("rabbitmq %s %s -> %s", method, path, response.status_code)
        if response.status_code == 404 and ok_missing:
            return None
        if response.status_code >= 400:
            reason = response.text.strip()
            try:
                data = response.json()
                reason = str(data.get("reason") or data.get("error") or reason)
            except ValueError:
                pass
            raise BrokerError(
                f"RabbitMQ {method} {path}{f' ({what})' if what else ''} failed: "
                f"HTTP {response.status_code}: {reason[:500]}",
                status=response.status_code,
            )
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return None

    # Liveness.

    def ping(self) -> bool:
        """True when the management API answers and the node is healthy."""
        try:
            self._call("GET", "overview")
        except BrokerError:
            return False
        return True

    # Vhosts, users, permissions.

    def vhost_exists(self, vhost: str) -> bool:
        return self._call("GET", f"vhosts/{_q(vhost)}", ok_missing=True) is not None

    def ensure_vhost(self, vhost: str) -> None:
        """Create the vhost if absent; the admin user gets `.*` on it (to declare and publish)."""
        if not self.vhost_exists(vhost):
            self._call("PUT", f"vhosts/{_q(vhost)}", {}, what=f"vhost {vhost}")
        self.set_permissions(vhost, self.admin_user)

    def delete_vhost(self, vhost: str) -> bool:
        """Delete the vhost with everything in it; False if there was none."""
        existed = self.vhost_exists(vhost)
        self._call("DELETE", f"vhosts/{_q(vhost)}", ok_missing=True, what=vhost)
        return existed

    def user_exists(self, username: str) -> bool:
        return self._call("GET", f"users/{_q(username)}", ok_missing=True) is not None

    def ensure_user(self, username: str, password: str) -> None:
        """Create the user, or set its password if it exists (no tags: not a management user)."""
        self._call(
            "PUT",
            f"users/{_q(username)}",
            {"password": password, "tags": ""},
            what=f"user {username}",
        )

    def set_permissions(
        self, vhost: str, username: str, configure: str = ALL, write: str = ALL, read: str = ALL
    ) -> None:
        self._call(
            "PUT",
            f"permissions/{_q(vhost)}/{_q(username)}",
            {"configure": configure, "write": write, "read": read},
            what=f"permissions of {username} on vhost {vhost}",
        )

    def ensure_subscription(self, vhost: str, username: str, password: str) -> None:
        """What Mastermind does when an event subscription (or agent queue) is registered:
        the vhost if absent, the user with the token as password, `.*` permissions."""
        self.ensure_vhost(vhost)
        self.ensure_user(username, password)
        self.set_permissions(vhost, username)

    def delete_user(self, username: str) -> bool:
        """Delete the user and close its connections; False if there was no such user."""
        existed = self.user_exists(username)
        self._call("DELETE", f"users/{_q(username)}", ok_missing=True, what=username)
        self.close_connections(user=username, reason="user deleted")
        return existed

    # Queues.

    def ensure_queue(self, vhost: str, queue: str) -> bool:
        """Declare the durable queue with Waldur's arguments; True if it was created now.

        A queue of that name with other arguments is a `BrokerError` (RabbitMQ refuses the
        redeclaration), as it would be for Mastermind.
        """
        existed = self.queue_exists(vhost, queue)
        self._call(
            "PUT",
            f"queues/{_q(vhost)}/{_q(queue)}",
            {"durable": True, "auto_delete": False, "arguments": QUEUE_ARGUMENTS},
            what=f"queue {queue} in vhost {vhost}",
        )
        return not existed

    def queue_exists(self, vhost: str, queue: str) -> bool:
        return self.queue_info(vhost, queue) is not None

    def queue_info(self, vhost: str, queue: str) -> dict[str, Any] | None:
        """The management API's view of the queue (arguments, `messages`, `consumers`, ...).

        Message and consumer counts are statistics: they lag by up to a second.
        """
        info = self._call("GET", f"queues/{_q(vhost)}/{_q(queue)}", ok_missing=True)
        return info if isinstance(info, dict) else None

    def delete_queue(self, vhost: str, queue: str) -> bool:
        """Delete the queue; False if there was none."""
        existed = self.queue_exists(vhost, queue)
        self._call("DELETE", f"queues/{_q(vhost)}/{_q(queue)}", ok_missing=True, what=queue)
        return existed

    def purge_queue(self, vhost: str, queue: str) -> None:
        self._call("DELETE", f"queues/{_q(vhost)}/{_q(queue)}/contents", what=queue)

    # Publishing.

    def publish(
        self,
        vhost: str,
        queue: str,
        payload: Mapping[str, Any],
        *,
        message_id: str | None = None,
    ) -> str:
        """Publish `payload` as JSON to `queue` (default exchange); returns the x-message-id.

        Raises `QueueNotFound` when nothing routed it (no such queue in that vhost): Mastermind
        never publishes without a queue row, so for the simulator that is a bug worth seeing.
        """
        message_id = message_id or uuid.uuid4().hex
        body = {
            "properties": {
                "delivery_mode": 2,
                "content_type": "application/json",
                # What Mastermind's STOMP SEND headers become on the AMQP side.
                "headers": {"x-message-id": message_id, "durable": "true", "auto-delete": "false"},
            },
            "routing_key": queue,
            "payload": json.dumps(payload),
            "payload_encoding": "string",
        }
        result = self._call(
            "POST",
            f"exchanges/{_q(vhost)}/amq.default/publish",
            body,
            what=f"publish to {queue} in vhost {vhost}",
        )
        if not (isinstance(result, dict) and result.get("routed")):
            raise QueueNotFound(f"message to queue {queue} in vhost {vhost} was not routed")
        return message_id

    # Connections.

    def connections(
        self, *, user: str | None = None, vhost: str | None = None
    ) -> list[dict[str, Any]]:
        """Open client connections (AMQP, STOMP, Web-STOMP), optionally of one user or vhost.

        Listed from statistics: a connection opened a moment ago may not be listed yet.
        """
        path = f"vhosts/{_q(vhost)}/connections" if vhost is not None else "connections"
        found = self._call("GET", path, ok_missing=True) or []
        return [c for c in found if user is None or c.get("user") == user]

    def close_connections(
        self, *, user: str | None = None, vhost: str | None = None, reason: str = "closed by test"
    ) -> int:
        """Force-close matching connections; how many were closed."""
        closed = 0
        for conn in self.connections(user=user, vhost=vhost):
            self._call(
                "DELETE",
                f"connections/{_q(conn['name'])}",
                ok_missing=True,
                headers={"X-Reason": reason},
            )
            closed += 1
        return closed

    def close_all_connections(self, reason: str = "closed by test") -> int:
        """Force-close every client connection (what `rabbitmqctl close_all_connections` does)."""
        return self.close_connections(reason=reason)
