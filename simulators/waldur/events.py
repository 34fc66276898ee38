"""Where state changes go: the queues registered for (offering, object type), via the broker.

Legacy per-type queues get the bare payload of waldur-api.md §5.3; the unified queue of an agent
identity gets it with the `object_type`, `offering_uuid` and `schema_version` envelope keys.
Every message is also kept in `outbox` (in memory) so tests can read it without a broker.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from waldur_site_agent_actors.simulators.waldur.state import Obj, State

log = logging.getLogger("simulators.waldur.events")
SCHEMA_VERSION = "1.0"
KEEP = 100_000  # messages and events kept in memory; the older half goes when it is exceeded


def _append(items: list[Obj], item: Obj) -> None:
    items.append(item)
    if len(items) > KEEP:
        del items[: KEEP // 2]


class BrokerLike(Protocol):
    def ensure_subscription(self, vhost: str, username: str, password: str) -> object: ...
    def ensure_queue(self, vhost: str, queue: str) -> object: ...
    def publish(self, vhost: str, queue: str, payload: dict[str, Any]) -> object: ...
    def delete_user(self, username: str) -> object: ...


class EventRouter:
    def __init__(self, broker: BrokerLike | None = None) -> None:
        self.broker = broker
        self.broker_down = False  # fault injection: publishing fails as in a broker outage
        self.emitted: list[Obj] = []  # every change, whether or not a queue wanted it
        self.outbox: list[Obj] = []  # every message addressed to a queue
        self._lock = threading.Lock()

    def emit(self, state: State, object_type: str, offering_uuid: str, payload: Obj) -> None:
        with self._lock:
            event = {"object_type": object_type, "offering_uuid": offering_uuid, "payload": payload}
            _append(self.emitted, event)
        for queue in state.find("queues", offering=offering_uuid, object_type=object_type):
            self._send(queue["vhost"], queue["queue_name"], object_type, payload)
        for queue in state.find("agent_queues", offering=offering_uuid):
            if not queue["object_types"] or object_type in queue["object_types"]:
                enveloped = {
                    **payload,
                    "object_type": object_type,
                    "offering_uuid": offering_uuid,
                    "schema_version": SCHEMA_VERSION,
                }
                self._send(queue["vhost"], queue["queue_name"], object_type, enveloped)

    def _send(self, vhost: str, queue_name: str, object_type: str, payload: Obj) -> None:
        message = {
            "vhost": vhost,
            "queue": queue_name,
            "object_type": object_type,
            "payload": payload,
            "published": False,
        }
        with self._lock:
            _append(self.outbox, message)
        if self.broker is None:
            return
        if self.broker_down:
            message["error"] = "broker outage (injected)"
            return
        try:
            self.broker.publish(vhost, queue_name, payload)
            message["published"] = True
        except Exception as exc:  # a broker failure never fails the API call
            message["error"] = f"{type(exc).__name__}: {exc}"
            log.warning("publishing to %s/%s failed: %s", vhost, queue_name, exc)

    def call_broker(self, method: str, *args: str) -> None:
        """Registration side effects; a broker outage surfaces as a 5xx like Waldur's would."""
        if self.broker is None:
            return
        if self.broker_down:
            raise ConnectionError("broker outage (injected)")
        getattr(self.broker, method)(*args)

    def messages(self, queue_name: str | None = None) -> list[Obj]:
        with self._lock:
            return [m for m in self.outbox if queue_name in (None, m["queue"])]
