"""One agent run that produces every metric: orders done and erred, usage, Waldur answering 503
twice, and an offering that fails for good. Shared by the scrape test and the real-Prometheus
test; both compare what the agent exposes with what the simulator shows."""

from __future__ import annotations

import copy
import socket
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.harness import Agent, offering_config, terminal, wait_for
from waldur_site_agent_actors.simulators.waldur import WaldurSimulator
from waldur_site_agent_actors.simulators.waldur.client import ConsumerClient
from waldur_site_agent_actors.simulators.waldur.seed import default_scenario

DONE_ENDPOINT = "POST /api/marketplace-orders/{uuid}/set_state_done/"
FAULTS = 2  # 503s Waldur answers to set_state_done, each retried
RETRY_AFTER = 1  # seconds each of those 503s asks for: the client waits that, not its backoff
CREATES, ERRED = 3, 2
MAX_RESTARTS = 1


def three_offerings() -> dict[str, Any]:
    scenario = default_scenario()
    for name in ("Erring cluster", "Broken cluster"):
        extra = copy.deepcopy(scenario["offerings"][0])
        extra["name"] = name
        extra["plans"][0]["name"] = f"{name} plan"
        scenario["offerings"].append(extra)
    return scenario


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    with urllib.request.urlopen(url, timeout=10) as answer:
        text = answer.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name` over the series matching `labels` (0 when none does)."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def series(samples: Samples, name: str) -> list[dict[str, str]]:
    return [dict(ls) for (n, ls), _ in samples.items() if n == name]


@dataclass
class Run:
    sim: WaldurSimulator
    consumer: ConsumerClient
    agent: Agent
    offerings: dict[str, dict[str, Any]]  # good, erring, broken
    port: int
    started_at: float
    created: list[str]  # resource uuids made by the good offering

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/metrics"

    def orders(self, offering: str, state: str, kind: str = "") -> int:
        uuid = self.offerings[offering]["uuid"]
        return sum(
            1
            for o in self.sim.objects("orders")
            if o.get("offering") == uuid
            and o.get("state") == state
            and (not kind or o.get("type") == kind)
        )

    def statuses(self, endpoint: str = "") -> list[int]:
        return [
            r["status"] for r in self.sim.requests() if not endpoint or r["endpoint"] == endpoint
        ]


@contextmanager
def metrics_run(
    tmp: Path, on_start: Callable[[int], None] | None = None, **metrics: Any
) -> Iterator[Run]:
    """The agent serving three offerings with metrics on, once every order is final, usage
    reached Waldur and the broken offering is FAILED. `on_start(port)` is called once the agent
    was started, before any order is placed."""
    port = free_port()
    with WaldurSimulator(seed=three_offerings(), tick_interval=0) as sim:
        summary = sim.summary()
        good, erring, broken = summary["offerings"]
        projects = summary["projects"]
        state = tmp / "state"
        agent = Agent(
            tmp,
            [
                offering_config(sim, good, state, name="good", usage_per_second=600),
                offering_config(sim, erring, state, name="erring", fail_on=["create"]),
                offering_config(sim, broken, state, name="broken", fail_on=["ping"]),
            ],
            supervision={
                "max_restarts": MAX_RESTARTS,
                "within_seconds": 600,
                "backoff_initial_seconds": 0.2,
                "backoff_max_seconds": 0.5,
            },
            metrics={"enabled": True, "listen_port": port, **metrics},
        )
        consumer = ConsumerClient(sim.api_url, sim.staff_token)
        sim.add_fault(
            endpoint=DONE_ENDPOINT,
            error_rate=1.0,
            status=503,
            times=FAULTS,
            retry_after=RETRY_AFTER,
        )
        started_at = time.time()
        agent.start()
        try:
            if on_start is not None:
                on_start(port)
            placed = [
                consumer.order(good["url"], projects[i % 2]["url"], {"cpu": 1, "mem": 1})
                for i in range(CREATES)
            ]
            placed += [
                consumer.order(erring["url"], projects[0]["url"], {"cpu": 1, "mem": 1})
                for _ in range(ERRED)
            ]
            finals = [
                wait_for(lambda o=o: terminal(consumer, o["uuid"]), what="orders", log=agent.log)
                for o in placed
            ]
            assert [f["state"] for f in finals] == ["done"] * CREATES + ["erred"] * ERRED, finals
            created = [f["marketplace_resource_uuid"] for f in finals[:CREATES]]
            run = Run(
                sim,
                consumer,
                agent,
                {"good": good, "erring": erring, "broken": broken},
                port,
                started_at,
                created,
            )
            wait_for(
                lambda: (
                    value(scrape(run.url), "waldur_site_agent_usage_resources_reported_total")
                    >= CREATES
                ),
                what="usage of every resource reported",
                log=agent.log,
            )
            wait_for(lambda: "FAILED" in agent.status().stdout, what="broken FAILED", log=agent.log)
            yield run
        except BaseException:
            print(agent.log()[-5000:])
            raise
        finally:
            consumer.close()
            assert agent.stop() == 0
