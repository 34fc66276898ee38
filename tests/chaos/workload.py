"""The users of a chaos run: orders placed over Waldur's public API, through the faults.

Orders are placed over HTTP as a user would (`ConsumerClient`, retried on injected faults); what
the workload needs to know to choose the next order (states of orders and resources) it reads
from the simulator in-process, so watching never adds to the agent's faults.
"""

from __future__ import annotations

import copy
import functools
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tests.chaos.faults import retried
from waldur_site_agent_actors.simulators.waldur.client import ConsumerClient
from waldur_site_agent_actors.simulators.waldur.seed import default_scenario

TERMINAL = frozenset({"done", "erred", "rejected", "canceled"})
# Shares of the order types while there are resources to update or terminate.
MIX = {"Create": 0.5, "Update": 0.25, "Terminate": 0.25}


def scenario(offerings: int) -> dict[str, Any]:
    """The built-in scenario with `offerings` copies of its SLURM offering. Its own seed: other
    sessions' simulators on the shared RabbitMQ then have other vhosts and queues."""
    world = default_scenario()
    world["seed"] = "chaos"
    template = world["offerings"][0]
    world["offerings"] = []
    for number in range(1, offerings + 1):
        offering = copy.deepcopy(template)
        offering["name"] = f"Cluster {number}"
        offering["plans"][0]["name"] = f"Cluster {number} default"
        world["offerings"].append(offering)
    return world


@dataclass
class Placed:
    uuid: str
    type: str
    resource: str  # the Waldur resource's uuid
    offering: str


@dataclass
class Workload:
    sim: Any
    seed: int
    in_flight: int = 30  # at most this many orders waiting for the agent at once
    placed: list[Placed] = field(default_factory=list)
    cleanup: list[Placed] = field(default_factory=list)

    def __post_init__(self) -> None:
        summary = self.sim.summary()
        self.offerings = summary["offerings"]
        self.projects = summary["projects"]
        # Generous: a request that timed out on this side may still have been carried out (a
        # publish stalls the simulator while the broker restarts), and retrying it is not safe.
        self.consumer = ConsumerClient(self.sim.api_url, self.sim.staff_token, timeout=300)
        self.random = random.Random(self.seed)
        self.by_type: Counter[str] = Counter()

    def close(self) -> None:
        self.consumer.close()

    def orders(self) -> dict[str, dict[str, Any]]:
        return {o["uuid"]: o for o in self.sim.objects("orders")}

    def resources(self) -> dict[str, dict[str, Any]]:
        return {r["uuid"]: r for r in self.sim.objects("resources")}

    def waiting(self, orders: dict[str, dict[str, Any]] | None = None) -> list[Placed]:
        orders = orders if orders is not None else self.orders()
        return [p for p in self.placed + self.cleanup if orders[p.uuid]["state"] not in TERMINAL]

    def step(self) -> bool:
        """Place one order if fewer than `in_flight` wait; False when it is too busy."""
        orders = self.orders()
        waiting = self.waiting(orders)
        if len(waiting) >= self.in_flight:
            return False
        busy = {p.resource for p in waiting}
        idle = [
            r
            for r in self.resources().values()
            if r["state"] in ("OK", "Erred") and r["uuid"] not in busy
        ]
        kind = self.random.choices(list(MIX), weights=list(MIX.values()))[0]
        healthy = [r for r in idle if r["state"] == "OK"]
        if kind == "Update" and healthy:
            self.update(self.random.choice(healthy))
        elif kind == "Terminate" and idle:
            # Users clean up what failed first, as they would in Waldur's UI.
            erred = [r for r in idle if r["state"] == "Erred"]
            self.terminate(self.random.choice(erred or idle), self.placed)
        else:
            self.create()
        return True

    def create(self) -> None:
        number = len(self.placed) + 1
        offering = self.offerings[number % len(self.offerings)]
        project = self.projects[number % len(self.projects)]
        # Named after the order count, so every backend account name is unique.
        create = functools.partial(self.consumer.order, name=f"chaos {number:05d}")
        order = retried(create, offering["url"], project["url"], self.limits())
        self._record(order["uuid"], "Create", order["marketplace_resource_uuid"], offering["uuid"])

    def update(self, resource: dict[str, Any]) -> None:
        limits = self.limits()
        while limits == resource.get("limits"):
            limits = self.limits()
        uuid = retried(self.consumer.update_limits, resource["uuid"], limits)
        self._record(uuid, "Update", resource["uuid"], resource["offering"])

    def terminate(self, resource: dict[str, Any], into: list[Placed]) -> None:
        uuid = retried(self.consumer.terminate, resource["uuid"])
        self._record(uuid, "Terminate", resource["uuid"], resource["offering"], into)

    def terminate_erred(self) -> int:
        """Terminate every Erred resource nobody is working on (the users' cleanup)."""
        busy = {p.resource for p in self.waiting()}
        erred = [
            r for r in self.resources().values() if r["state"] == "Erred" and r["uuid"] not in busy
        ]
        for resource in erred:
            self.terminate(resource, self.cleanup)
        return len(erred)

    def limits(self) -> dict[str, int]:
        return {"cpu": self.random.randint(1, 50), "mem": self.random.randint(1, 50)}

    def _record(
        self,
        uuid: str,
        kind: str,
        resource: str,
        offering: str,
        into: list[Placed] | None = None,
    ) -> None:
        into = self.placed if into is None else into
        into.append(Placed(uuid, kind, resource, offering))
        if into is self.placed:
            self.by_type[kind] += 1
