"""One chaos run: the agent serving several offerings over events, the workload placing orders
while the faults, restarts and kills happen, then the settling and the figures."""

from __future__ import annotations

import signal
import time
import tomllib
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from tests.chaos import checks
from tests.chaos.faults import BrokerRestarts, inject_waldur_faults, kill_and_restart, waldur_faults
from tests.chaos.workload import Workload
from tests.e2e.harness import Agent, DemoDb, offering_config, wait_for

BACKEND_FAIL_RATE = 0.1
USAGE_PER_SECOND = 60  # one GPU-hour per second per linked user (gpu's unit_factor is 60)


@dataclass(frozen=True)
class Size:
    orders: int
    broker_restarts: int
    agent_kills: int

    def events(self) -> dict[int, str]:
        """At which order count each restart or kill happens: evenly spread, alternating."""
        kinds = []
        restarts, kills = self.broker_restarts, self.agent_kills
        while restarts or kills:
            if restarts >= kills:
                kinds.append("restart broker")
                restarts -= 1
            else:
                kinds.append("kill agent")
                kills -= 1
        step = self.orders // (len(kinds) + 1)
        return {step * (i + 1): kind for i, kind in enumerate(kinds)}


def eventually(predicate: Callable[[], Any], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return bool(predicate())


class ChaosRun:
    def __init__(self, sim: Any, rabbitmq: Any, tmp: Path, seed: int) -> None:
        self.sim, self.rabbitmq, self.seed = sim, rabbitmq, seed
        self.started = time.monotonic()
        sim.counters.log = deque()  # keep the whole run's requests, not only the last 10,000
        self.offerings = sim.summary()["offerings"]
        state = tmp / "state"
        configs, self.dbs = [], {}
        for number, offering in enumerate(self.offerings, start=1):
            name = f"cluster{number}"
            self.dbs[offering["uuid"]] = DemoDb(state / f"demo-{name}.sqlite")
            configs.append(
                {
                    **offering_config(
                        sim,
                        offering,
                        state,
                        name=name,
                        usage_per_second=USAGE_PER_SECOND,
                        fail_rate=BACKEND_FAIL_RATE,
                        fail_seed=seed + number,
                    ),
                    **rabbitmq.offering_stomp,
                }
            )
        # Events carry the orders. What an outage or a kill loses is caught by the sweep each
        # reconnect and each start makes at once, so the periodic sweeps can be a minute apart.
        self.agent = Agent(tmp, configs, reconciliation_period_minutes=1, report_period_minutes=1)
        self.workload = Workload(sim, seed)
        self.broker = BrokerRestarts(rabbitmq)
        self.kills = 0
        self.in_flight_at_events: list[int] = []  # orders waiting when each restart or kill hit
        self.exit_code: int | None = None
        self.reload_seconds: float | None = None

    def start(self) -> None:
        self.agent.start()
        wait_for(
            lambda: self.agent.log().count("listening on consumer_") >= len(self.offerings),
            what="every offering to listen for events",
            log=self.agent.log,
        )
        inject_waldur_faults(self.sim, self.seed)

    def drive(self, size: Size) -> None:
        """Place `size.orders` orders, restarting the broker and killing the agent on the way."""
        events = size.events()
        while len(self.workload.placed) < size.orders:
            event = events.pop(len(self.workload.placed), None)
            if event:
                self.in_flight_at_events.append(len(self.workload.waiting()))
            if event == "restart broker":
                self.broker.start()
            elif event == "kill agent":
                kill_and_restart(self.agent)
                self.kills += 1
            if not self.workload.step():
                time.sleep(0.05)
        self.broker.wait()

    def settle(self, timeout: float) -> None:
        """Every order ends, under the faults still; the users terminate what erred; then the
        chaos stops and the usage of the last report cycle reaches Waldur."""
        if not eventually(lambda: not self.workload.waiting(), timeout):
            return
        for _ in range(5):
            if not self.workload.terminate_erred():
                break
            if not eventually(lambda: not self.workload.waiting(), timeout):
                return
        if self.calm():
            eventually(lambda: not self.usage_differences(), 120)

    def calm(self) -> bool:
        """Waldur answers everything again, and the backend too: a reload with `fail_rate` 0,
        as an operator would once the backend is repaired. The offerings restart with it, and
        report usage at once."""
        self.sim.clear_faults()
        document = tomllib.loads(self.agent.config.read_text())
        for offering in document["offerings"]:
            offering["backend_settings"]["fail_rate"] = 0.0
        self.agent.config.write_text(tomli_w.dumps(document))
        assert self.agent.process is not None
        started = time.monotonic()
        self.agent.process.send_signal(signal.SIGHUP)
        # The offerings stop for the reload once the sweeps they are in have ended.
        if not eventually(lambda: "config reloaded" in self.agent.log(), 300):
            return False
        self.reload_seconds = round(time.monotonic() - started, 1)
        return True

    def stop(self) -> None:
        self.workload.close()
        self.exit_code = self.agent.stop(timeout=100)

    def live(self) -> dict[str, list[dict[str, Any]]]:
        """Per offering, the Waldur resources that are not Terminated."""
        resources = self.sim.objects("resources")
        return {uuid: checks.alive(resources, uuid) for uuid in self.dbs}

    def usage_differences(self) -> dict[str, str]:
        live = self.live()
        found: dict[str, str] = {}
        for uuid, db in self.dbs.items():
            found.update(checks.usage_differences(self.sim, db, live[uuid]))
        return found

    def findings(self) -> dict[str, list[str]]:
        """Everything that went wrong, by invariant: each list must be empty."""
        orders = self.workload.orders()
        live = self.live()
        found: dict[str, list[str]] = {
            "lost": checks.lost(self.workload.placed + self.workload.cleanup, orders),
            "done twice": checks.done_twice(self.sim.requests()),
            "created twice": [],
            "leaked accounts": [],
            "missing accounts": [],
            "wrong limits": [],
        }
        for uuid, db in self.dbs.items():
            found["created twice"] += checks.created_twice(db)
            leaked, missing = checks.leaked_and_missing(db, live[uuid])
            found["leaked accounts"] += leaked
            found["missing accounts"] += missing
            found["wrong limits"] += checks.wrong_limits(db, live[uuid])
        found["usage differences"] = [f"{k}: {v}" for k, v in self.usage_differences().items()]
        return found

    def figures(self, findings: dict[str, list[str]]) -> dict[str, Any]:
        orders = self.workload.orders()
        faults, endpoints = waldur_faults(self.sim.requests())
        return {
            "orders": dict(self.workload.by_type),
            "cleanup terminations": len(self.workload.cleanup),
            "final states": dict(Counter(orders[p.uuid]["state"] for p in self.workload.placed)),
            "agent requests to Waldur": sum(endpoints.values()),
            "busiest endpoints": dict(endpoints.most_common(6)),
            "Waldur faults injected": dict(faults),
            "backend failures injected": dict(checks.backend_failures(self.dbs.values())),
            "broker restarts": self.broker.done,
            "agent kills": self.kills,
            "orders in flight at each restart or kill": self.in_flight_at_events,
            **{name: len(items) for name, items in findings.items()},
            "reload after the chaos (s)": self.reload_seconds,
            "agent exit code": self.exit_code,
            "seconds": round(time.monotonic() - self.started),
        }
