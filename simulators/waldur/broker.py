"""The simulator's side of RabbitMQ: vhosts, users, queues and publishing, as Mastermind does them.

Everything goes through the RabbitMQ management HTTP API (a few pooled keep-alive `requests`
sessions shared by all threads), never through `rabbitmqctl`, so a call costs milliseconds. The
broker itself is the one `tests/services/rabbitmq up` starts; `Broker.from_env()` reads the
variables that script prints.

Waldur's conventions reproduced here (see ../shared/notes/waldur-api.md §5):

- one vhost per Waldur user (the user's uuid hex); one RabbitMQ user per event subscription (its
  uuid hex) or per agent identity queue (`rmq_username`), whose password is the API token, with
  `.*` configure/write/read on that vhost;
- durable queues with Waldur's arguments (`QUEUE_ARGUMENTS`);
- messages published the way Mastermind publishes them: over STOMP (TCP) with the admin user
  into the subscriber's vhost, `SEND /amq/queue/<name>` with `persistent:true`, `durable:true`,
  `auto-delete:false`, `content-type:application/json`, `x-message-id` (Mastermind's: a hash of
  vhost, queue and body), a JSON body. Mastermind connects per message; here one connection per
  vhost is kept open and each publish waits for a barrier receipt, so a publish that returned has
  been taken by RabbitMQ. Without a STOMP port the management API's publish endpoint is used
  instead (~9 ms each), with the same result for a consumer. A consumer subscribed to
  `/amq/queue/<name>` gets them with `destination: /queue/<name>` either way (checked against a
  real node).

Passwords never appear in logs or in error messages.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import socket
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import requests
import stomp
from stomp.exception import StompException

log = logging.getLogger("simulators.waldur.broker")

SETTLING_DELAYS = (0.2, 0.5, 1.0, 2.0, 4.0)
"""Pauses before asking again after a 5xx (about 8 s in all)."""

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
        stomp_host: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.mgmt_url = mgmt_url if mgmt_url.endswith("/") else mgmt_url + "/"
        self.admin_user = admin_user
        self._auth = (admin_user, admin_password)
        self.ws_url = ws_url
        self.stomp_port = stomp_port
        self.stomp_host = stomp_host or urlsplit(self.mgmt_url).hostname or "127.0.0.1"
        self.timeout = timeout
        # Idle sessions, each with its own keep-alive connection; a caller takes one for a call
        # and puts it back, so any number of threads (one per simulator request) share a few.
        self._idle: queue.LifoQueue[requests.Session] = queue.LifoQueue()
        self._publishers: dict[str, _StompPublisher] = {}
        self._publishers_lock = threading.Lock()
        self._known_queues: set[tuple[str, str]] = set()

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
            stomp_host=env.get(ENV_PREFIX + "HOST") or None,
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

    def _new_session(self) -> requests.Session:
        session = requests.Session()
        session.auth = self._auth
        session.headers["content-type"] = "application/json"
        return session

    def close(self) -> None:
        """Close the publishing connections and idle HTTP connections (it stays usable)."""
        with self._publishers_lock:
            publishers, self._publishers = list(self._publishers.values()), {}
        for publisher in publishers:
            publisher.close()
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return

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
        # The management API answers a bare 500 now and then while the node settles a vhost
        # just made or removed; GET, PUT and DELETE are safe to repeat, a publish is not.
        attempts = len(SETTLING_DELAYS) + 1 if method in ("GET", "PUT", "DELETE") else 1
        for attempt in range(attempts):
            response = self._send(method, path, body, headers)
            log.debug("rabbitmq %s %s -> %s", method, path, response.status_code)
            if response.status_code < 500 or attempt == attempts - 1:
                break
            log.info("rabbitmq %s %s answered %s: asking again", method, path, response.status_code)
            time.sleep(SETTLING_DELAYS[attempt])
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

    def _send(
        self, method: str, path: str, body: Any, headers: dict[str, str] | None
    ) -> requests.Response:
        try:
            session = self._idle.get_nowait()
        except queue.Empty:
            session = self._new_session()
        try:
            response = session.request(
                method,
                self.mgmt_url + path,
                data=None if body is None else json.dumps(body),
                headers=headers,
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            session.close()
            raise BrokerUnavailable(
                f"RabbitMQ management API at {self.mgmt_url} unreachable "
                f"({method} {path}): {type(exc).__name__}: {exc}"
            ) from exc
        self._idle.put(session)
        return response

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
        self._known_queues = {known for known in self._known_queues if known[0] != vhost}
        with self._publishers_lock:
            publisher = self._publishers.pop(vhost, None)
        if publisher:
            publisher.close()
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
        self._known_queues.add((vhost, queue))
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
        self._known_queues.discard((vhost, queue))
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
        via: str | None = None,
    ) -> str:
        """Publish `payload` as JSON to `queue` as Mastermind does; returns the x-message-id.

        `via`: "stomp" (the default when the STOMP port is known) or "management".
        Raises `QueueNotFound` when there is no such queue in that vhost (Mastermind never
        publishes without a queue row, so for the simulator that is a bug worth seeing; a queue
        deleted behind this Broker's back is not noticed on the STOMP path, as on Mastermind's),
        `BrokerUnavailable` when the broker is down.
        """
        body = json.dumps(payload)
        message_id = message_id or mastermind_message_id(vhost, queue, body)
        via = via or ("stomp" if self.stomp_port else "management")
        if via == "management":
            self._publish_management(vhost, queue, body, message_id)
        elif via == "stomp":
            if (vhost, queue) not in self._known_queues:
                if not self.queue_exists(vhost, queue):
                    raise QueueNotFound(f"no queue {queue} in vhost {vhost}: nothing published")
                self.set_permissions(vhost, self.admin_user)  # declared by someone else
                self._known_queues.add((vhost, queue))
            headers = {**MASTERMIND_HEADERS, "x-message-id": message_id}
            self._publisher(vhost).send(f"/amq/queue/{queue}", body, headers)
        else:
            raise ValueError(f"via must be 'stomp' or 'management', not {via!r}")
        return message_id

    def _publish_management(self, vhost: str, queue: str, body: str, message_id: str) -> None:
        request = {
            "properties": {
                "delivery_mode": 2,
                "content_type": "application/json",
                # What Mastermind's STOMP SEND headers become on the AMQP side.
                "headers": {"x-message-id": message_id, "durable": "true", "auto-delete": "false"},
            },
            "routing_key": queue,
            "payload": body,
            "payload_encoding": "string",
        }
        result = self._call(
            "POST",
            f"exchanges/{_q(vhost)}/amq.default/publish",
            request,
            what=f"publish to {queue} in vhost {vhost}",
        )
        if not (isinstance(result, dict) and result.get("routed")):
            raise QueueNotFound(f"message to queue {queue} in vhost {vhost} was not routed")

    def _publisher(self, vhost: str) -> _StompPublisher:
        assert self.stomp_port is not None
        with self._publishers_lock:
            publisher = self._publishers.get(vhost)
            if publisher is None:
                publisher = _StompPublisher(
                    self.stomp_host, self.stomp_port, vhost, self._auth, self.timeout
                )
                self._publishers[vhost] = publisher
            return publisher

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


def mastermind_message_id(vhost: str, queue: str, body: str) -> str:
    """Mastermind's deterministic `x-message-id` (for deduplication): sha256 of
    `<vhost>:<queue>:<body>`, first 32 hex digits."""
    return hashlib.sha256(f"{vhost}:{queue}:{body}".encode()).hexdigest()[:32]


MASTERMIND_HEADERS = {
    "persistent": "true",
    "durable": "true",
    "auto-delete": "false",
    "content-type": "application/json",
}


class _Link(stomp.ConnectionListener):
    """The listener of one STOMP connection: records frames and wakes the sender, nothing else
    (it runs on stomp.py's receiver thread). A fresh one per connection, so a late callback of
    a dropped connection never touches the state of its replacement."""

    def __init__(self) -> None:
        self.connected = threading.Event()
        self.receipts: dict[str, threading.Event] = {}
        self.error = ""

    def on_connected(self, frame: Any) -> None:
        self.connected.set()

    def on_receipt(self, frame: Any) -> None:
        waiter = self.receipts.pop(frame.headers.get("receipt-id", ""), None)
        if waiter is not None:
            waiter.set()

    def on_error(self, frame: Any) -> None:
        self.error = f"{frame.headers.get('message', 'ERROR')}: {str(frame.body).strip()}"
        self._wake_all()

    def on_disconnected(self) -> None:
        self.connected.clear()
        self._wake_all()

    def _wake_all(self) -> None:
        for waiter in list(self.receipts.values()):
            waiter.set()


class _StompPublisher:
    """One STOMP connection into one vhost with the admin user, as Mastermind publishes.

    Sends are serialised, each followed by a receipted barrier (see `_send`). A dropped
    connection is replaced on the next send; a send that fails on a stale connection is tried
    once more on a fresh one.
    """

    def __init__(
        self, host: str, port: int, vhost: str, auth: tuple[str, str], timeout: float
    ) -> None:
        self.host, self.port, self.vhost, self.timeout = host, port, vhost, timeout
        self._auth = auth
        self._lock = threading.Lock()
        self._conn: stomp.Connection | None = None
        self._link = _Link()

    def send(self, destination: str, body: str, headers: dict[str, str]) -> None:
        with self._lock:
            try:
                self._send(destination, body, headers)
            except _Stale:
                self._drop()
                self._send(destination, body, headers, last_try=True)

    def _send(
        self, destination: str, body: str, headers: dict[str, str], last_try: bool = False
    ) -> None:
        conn, link = self._connection()
        # Mastermind asks no receipt for its SEND (and a receipt header would reach the
        # consumer), so a receipted empty transaction right after it is the barrier: once its
        # RECEIPT is back, RabbitMQ has taken the SEND (or refused it with an ERROR).
        receipt = uuid.uuid4().hex
        waiter = link.receipts[receipt] = threading.Event()
        try:
            conn.send(destination, body, headers=headers)
            transaction = conn.begin()
            conn.abort(transaction, headers={"receipt": receipt})
        except (StompException, OSError) as exc:
            link.receipts.pop(receipt, None)
            if not last_try:
                raise _Stale from exc
            self._drop()
            raise BrokerUnavailable(
                f"STOMP publish to vhost {self.vhost} failed: {type(exc).__name__}: {exc}"
            ) from exc
        # on_receipt removes the entry before waking us; a failure wakes us and leaves it.
        arrived = waiter.wait(self.timeout) and receipt not in link.receipts
        link.receipts.pop(receipt, None)
        if arrived:
            return
        self._drop()
        raise BrokerUnavailable(
            f"no receipt from RabbitMQ for a message to {destination} in vhost {self.vhost}"
            f" ({link.error or 'connection lost'}); it may or may not have been queued"
        )

    def _connection(self) -> tuple[stomp.Connection, _Link]:
        if self._conn is not None and self._conn.is_connected() and self._link.connected.is_set():
            return self._conn, self._link
        self._drop()
        conn = stomp.Connection(
            [(self.host, self.port)],
            vhost=self.vhost,
            heartbeats=(0, 0),
            reconnect_attempts_max=1,
            timeout=self.timeout,
        )
        link = _Link()
        conn.set_listener("publisher", link)
        try:
            conn.connect(*self._auth, wait=False)
        except (StompException, OSError) as exc:
            raise BrokerUnavailable(
                f"RabbitMQ STOMP at {self.host}:{self.port} unreachable: {type(exc).__name__}"
            ) from exc
        sock = getattr(conn.transport, "socket", None)
        if sock is not None:  # three small frames per publish: no Nagle/delayed-ACK 40 ms stall
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if not link.connected.wait(self.timeout):
            self._stop(conn)
            raise BrokerError(
                f"STOMP login into vhost {self.vhost} failed: {link.error or 'no CONNECTED frame'}"
            )
        self._conn, self._link = conn, link
        return conn, link

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self._stop(conn)

    @staticmethod
    def _stop(conn: stomp.Connection) -> None:
        try:
            if conn.is_connected():
                conn.disconnect()
        except (StompException, OSError):
            pass
        finally:
            conn.transport.stop()

    def close(self) -> None:
        with self._lock:
            self._drop()


class _Stale(Exception):
    """A send failed on a connection that may have died unnoticed: retry on a fresh one."""
