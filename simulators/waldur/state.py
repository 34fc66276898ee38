"""The simulator's whole world: tables of plain JSON dicts keyed by hex UUID, under one lock.

Handlers run with `state.lock` held for the whole request, mutate through `put`/`remove`, and the
server calls `commit()` afterwards, which writes the changed rows to SQLite when persistence is on.
Every change Waldur would publish goes through `emit()` to the pluggable `events` hook.
"""

from __future__ import annotations

import hashlib
import threading
import uuid as uuidlib
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from waldur_site_agent_actors.simulators.waldur.store import Store

Obj = dict[str, Any]

TABLES = (
    "users",
    "customers",
    "projects",
    "roles",
    "service_providers",
    "offerings",
    "plans",
    "resources",
    "orders",
    "offering_users",
    "component_usages",
    "user_usages",
    "user_usage_limits",
    "ssh_keys",
    "service_accounts",
    "course_accounts",
    "identities",
    "services",
    "processors",
    "subscriptions",
    "queues",
    "agent_queues",
    "policies",
    "command_results",
    "backend_requests",
    "backend_resources",
    "api_keys",
    "agent_logs",
    "integration_statuses",
    "oidc_clients",
)


class Events(Protocol):
    """Called on every change Waldur would publish to the event queues (waldur-api.md §5.3)."""

    def emit(self, state: State, object_type: str, offering_uuid: str, payload: Obj) -> None: ...


class NoEvents:
    def emit(self, state: State, object_type: str, offering_uuid: str, payload: Obj) -> None:
        pass


def parse_uuid(value: object) -> str | None:
    """The hex form of a UUID given with or without dashes, or None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        return uuidlib.UUID(value.strip()).hex
    except ValueError:
        return None


def isoformat(moment: datetime) -> str:
    text = moment.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


# Lookups by these keys go through an index: a benchmark piles up tens of thousands of usages, and
# a scan per request would make the simulator, not the agent, what grows with the work. A
# resource is rendered with its orders: listing 2,000 resources scanned every order per resource,
# three quarters of the simulator's CPU in a 2,000-order run.
INDEXED = {"component_usages": "resource", "user_usages": "component_usage", "orders": "resource"}


class State:
    def __init__(
        self,
        seed: str = "waldur-simulator",
        store: Store | None = None,
        events: Events | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.seed = seed
        self.store = store
        self.events: Events = events or NoEvents()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.clock_offset = timedelta()
        self.tables: dict[str, dict[str, Obj]] = {name: {} for name in TABLES}
        self.counter = 0
        self._dirty: dict[tuple[str, str], Obj | None] = {}
        self._tokens: dict[str, str] = {}
        self.loaded = False
        if store is not None:
            tables, meta = store.load()
            if tables:
                for kind, rows in tables.items():
                    self.tables.setdefault(kind, {}).update(rows)
                self.counter = int(meta.get("counter", 0))
                self.seed = str(meta.get("seed", seed))
                self.loaded = True
        for user in self.tables["users"].values():
            self._tokens[user["token"]] = user["uuid"]
        self._index: dict[str, dict[Any, dict[str, Obj]]] = {kind: {} for kind in INDEXED}
        for kind, key in INDEXED.items():
            for obj in self.tables[kind].values():
                self._index[kind].setdefault(obj.get(key), {})[obj["uuid"]] = obj

    # identity and time

    def new_uuid(self) -> str:
        """Deterministic for a seed; the counter is persisted so restarts never collide."""
        with self.lock:
            self.counter += 1
            digest = hashlib.sha256(f"{self.seed}:{self.counter}".encode()).digest()[:16]
        return uuidlib.UUID(bytes=digest, version=4).hex

    def new_token(self) -> str:
        return hashlib.sha1(f"{self.seed}:token:{self.new_uuid()}".encode()).hexdigest()  # noqa: S324

    def now(self) -> datetime:
        return self.clock() + self.clock_offset

    def timestamp(self) -> str:
        return isoformat(self.now())

    # tables

    def get(self, kind: str, uuid: str | None) -> Obj | None:
        return self.tables[kind].get(uuid) if uuid else None

    def all(self, kind: str) -> Iterable[Obj]:
        return self.tables[kind].values()

    def find(self, kind: str, **match: Any) -> list[Obj]:
        key = INDEXED.get(kind)
        rows: Iterable[Obj] = self.tables[kind].values()
        if key in match:
            rows = self._index[kind].get(match[key], {}).values()
        return [o for o in rows if all(o.get(k) == v for k, v in match.items())]

    def first(self, kind: str, **match: Any) -> Obj | None:
        found = self.find(kind, **match)
        return found[0] if found else None

    def put(self, kind: str, obj: Obj) -> Obj:
        if "uuid" not in obj:
            obj["uuid"] = self.new_uuid()
        stamp = self.timestamp()
        obj.setdefault("created", stamp)
        obj["modified"] = stamp
        self.tables[kind][obj["uuid"]] = obj
        self._dirty[(kind, obj["uuid"])] = obj
        if kind in INDEXED:
            self._index[kind].setdefault(obj.get(INDEXED[kind]), {})[obj["uuid"]] = obj
        if kind == "users":
            self._tokens[obj["token"]] = obj["uuid"]
        return obj

    def remove(self, kind: str, uuid: str) -> None:
        obj = self.tables[kind].pop(uuid, None)
        if obj is not None:
            self._dirty[(kind, uuid)] = None
            if kind in INDEXED:
                self._index[kind].get(obj.get(INDEXED[kind]), {}).pop(uuid, None)
            if kind == "users":
                self._tokens.pop(obj["token"], None)

    def user_by_token(self, token: str) -> Obj | None:
        return self.get("users", self._tokens.get(token))

    def emit(self, object_type: str, offering_uuid: str, payload: Obj) -> None:
        self.events.emit(self, object_type, offering_uuid, payload)

    def commit(self) -> None:
        if not self._dirty:
            return
        changed = [(kind, uuid, obj) for (kind, uuid), obj in self._dirty.items()]
        self._dirty.clear()
        if self.store is not None:
            self.store.save(changed, {"counter": self.counter, "seed": self.seed})

    def rollback_marks(self) -> None:
        """Forget pending writes (used only when nothing was persisted and state is discarded)."""
        self._dirty.clear()
