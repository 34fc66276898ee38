"""`WaldurSimulator`: the whole simulator in-process, as a context manager, with a Python API for
fault injection, counters and the event outbox."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from waldur_site_agent_actors.simulators.http import Running
from waldur_site_agent_actors.simulators.waldur import orders
from waldur_site_agent_actors.simulators.waldur import seed as seeds
from waldur_site_agent_actors.simulators.waldur.consumer import live_offerings
from waldur_site_agent_actors.simulators.waldur.events import BrokerLike, EventRouter
from waldur_site_agent_actors.simulators.waldur.faults import Counters, Fault, Faults
from waldur_site_agent_actors.simulators.waldur.server import App, Server
from waldur_site_agent_actors.simulators.waldur.state import Events, Obj, State, parse_uuid
from waldur_site_agent_actors.simulators.waldur.store import Store


class WaldurSimulator:
    """A stateful Waldur Mastermind on 127.0.0.1.

    `seed`: None (the built-in scenario), a path to a TOML/YAML/JSON scenario, or a dict.
    `state_file`: SQLite file; when it already holds state, that state is used and the seed is not
    applied again. `broker`: an object with the `Broker` methods, or None (messages then only go
    to the in-memory `outbox`). `events`: replace the event hook entirely.
    """

    def __init__(
        self,
        seed: str | Path | dict[str, Any] | None = None,
        state_file: str | Path | None = None,
        broker: BrokerLike | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        fault_seed: int = 0,
        events: Events | None = None,
        tick_interval: float = 30.0,
    ) -> None:
        if seed is None:
            spec = seeds.default_scenario()
        elif isinstance(seed, dict):
            spec = seed
        else:
            spec = seeds.load(seed)
        self.router = EventRouter(broker)
        self.store = Store(state_file) if state_file else None
        self.state = State(
            str(spec.get("seed", seeds.DEFAULT_SEED)), self.store, events or self.router
        )
        if not self.state.loaded:
            with self.state.lock:
                seeds.apply(self.state, spec)
        self.faults = Faults(fault_seed)
        self.counters = Counters()
        self.app = App(self.state, self.faults, self.counters)
        self.tick_interval = tick_interval
        self._address = (host, port)
        self._running: Running | None = None

    # life cycle

    def start(self) -> WaldurSimulator:
        self._running = Running(Server(self._address, self.app), "waldur-simulator")
        if self.tick_interval > 0:
            threading.Thread(target=self._ticker, name="waldur-ticker", daemon=True).start()
        return self

    def tick(self) -> None:
        """Run Mastermind's periodic order tasks now (start dates, re-announcing old orders)."""
        with self.state.lock:
            orders.tick(self.state)
            self.state.commit()

    def _ticker(self) -> None:
        while not self.app.stopping.wait(self.tick_interval):
            self.tick()

    def stop(self) -> None:
        self.app.stopping.set()
        if self._running is not None:
            self._running.stop()
            self._running = None
        if self.store is not None:
            self.store.close()
            self.store = None

    def __enter__(self) -> WaldurSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # addresses and credentials

    @property
    def port(self) -> int:
        assert self._running is not None, "not started"
        return self._running.port

    @property
    def base_url(self) -> str:
        return f"http://{self._address[0]}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    def summary(self) -> dict[str, Any]:
        with self.state.lock:
            return seeds.summary(self.state, self.api_url)

    def token(self, username: str) -> str:
        user = self.state.first("users", username=username)
        if user is None:
            raise KeyError(username)
        return str(user["token"])

    @property
    def staff_token(self) -> str:
        return str(self.summary()["staff_token"])

    @property
    def provider_token(self) -> str:
        return str(self.summary()["provider_token"])

    # fault injection and counters

    def add_fault(self, **spec: Any) -> Fault:
        """E.g. `add_fault(endpoint="POST /api/marketplace-orders/{uuid}/set_state_done/",
        error_rate=0.5, status=503, retry_after=1)`."""
        return self.faults.add(**spec)

    def clear_faults(self) -> None:
        self.faults.clear()

    @property
    def broker_down(self) -> bool:
        return self.router.broker_down

    @broker_down.setter
    def broker_down(self, value: bool) -> None:
        self.router.broker_down = value

    def counts(self) -> dict[str, int]:
        return self.counters.snapshot()

    def requests(self) -> list[dict[str, Any]]:
        return self.counters.requests()

    def reset_counters(self) -> None:
        self.counters.reset()

    @property
    def outbox(self) -> list[Obj]:
        return self.router.outbox

    @property
    def emitted(self) -> list[Obj]:
        return self.router.emitted

    # events Waldur raises from its own side (no public trigger endpoint is simulated)

    def _emit(self, object_type: str, offering_uuid: str, payload: Obj) -> None:
        with self.state.lock:
            self.state.emit(object_type, offering_uuid, payload)
            self.state.commit()

    def _resource(self, resource_uuid: str) -> Obj:
        resource = self.state.get("resources", parse_uuid(resource_uuid))
        if resource is None:
            raise KeyError(resource_uuid)
        return resource

    def trigger_periodic_limits(self, resource_uuid: str, settings: Obj) -> str:
        """A SLURM periodic usage policy changed what `resource` may use; returns the policy
        UUID the agent reports back to (`report-command-result`)."""
        with self.state.lock:
            resource = self._resource(resource_uuid)
            policy = self.state.put(
                "policies", {"resource": resource["uuid"], "settings": settings}
            )
            payload = {
                "resource_uuid": resource["uuid"],
                "backend_id": resource.get("backend_id", ""),
                "offering_uuid": resource["offering"],
                "policy_uuid": policy["uuid"],
                "action": "apply_periodic_settings",
                "settings": settings,
                "timestamp": self.state.timestamp(),
            }
            self._emit("resource_periodic_limits", resource["offering"], payload)
            return str(policy["uuid"])

    def request_offering_sync(self, offering_uuid: str, username: str = "provider") -> None:
        """The provider's "sync resources" on the offering."""
        offering = parse_uuid(offering_uuid) or offering_uuid
        user = self.state.first("users", username=username) or {}
        payload = {"offering_uuid": offering, "requested_by_user_uuid": user.get("uuid")}
        self._emit("offering_resources_sync", offering, payload)

    def resync_user_roles(self, project_uuid: str, resource_uuid: str | None = None) -> None:
        """Staff's "sync user roles" on a project (optionally narrowed to one resource)."""
        with self.state.lock:
            project = self.state.get("projects", parse_uuid(project_uuid)) or {}
            for offering in live_offerings(self.state, project["uuid"]):
                payload = {"project_uuid": project["uuid"], "project_name": project["name"]}
                if resource_uuid:
                    payload["resource_uuid"] = parse_uuid(resource_uuid)
                self._emit("user_role", offering["uuid"], payload)

    def objects(self, kind: str, **match: Any) -> list[Obj]:
        """A copy of stored objects, for assertions (read-only view of the world)."""
        with self.state.lock:
            return [dict(o) for o in self.state.find(kind, **match)]
