"""Two Waldurs: A, whose offering this agent serves, and B, where its resources really live.

B has its own provider ("B Centre", who approves B's orders here, as B's own agent would) and a
customer "Federation A" owned by `federator`, the service account whose token the agent uses on
B; `federator` also manages B's offering, so it may register an event queue for it and see its
offering users, and manages the identity service domain `ISD` of B's identity bridge. B's users
are A's people under other usernames (matched by email), and `dave`, whose B username equals his
A one but whose email differs (matched by username or CUID, not by email).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.e2e.harness import terminal, wait_for
from waldur_site_agent_actors.simulators.waldur import WaldurSimulator
from waldur_site_agent_actors.simulators.waldur import seed as seeds
from waldur_site_agent_actors.simulators.waldur.client import ConsumerClient

A_OFFERING_COMPONENTS = [
    {"type": "cpu", "name": "CPU", "billing_type": "limit", "measured_unit": "hours"},
    {"type": "small_nodes", "name": "Small nodes", "billing_type": "limit", "measured_unit": "n"},
    {"type": "large_nodes", "name": "Large nodes", "billing_type": "limit", "measured_unit": "n"},
    {"type": "node_hours", "name": "Node hours", "billing_type": "usage", "measured_unit": "h"},
]
B_OFFERING_COMPONENTS = [
    {"type": "cpu", "name": "CPU", "billing_type": "limit", "measured_unit": "hours"},
    {"type": "nodes", "name": "Nodes", "billing_type": "limit", "measured_unit": "n"},
    {"type": "gpu_hours", "name": "GPU hours", "billing_type": "usage", "measured_unit": "h"},
    {"type": "storage_gb_hours", "name": "Storage", "billing_type": "usage", "measured_unit": "h"},
]

ISD = "isd:waldur-a"
"""The identity service domain the agent pushes A's users to B as; `federator` manages it."""

# The agent's view of A's components: passthrough, fan-out and fan-in.
COMPONENTS: dict[str, dict[str, Any]] = {
    "cpu": {"measured_unit": "hours", "accounting_type": "limit", "label": "CPU"},
    "node_hours": {
        "measured_unit": "h",
        "accounting_type": "usage",
        "label": "Node hours",
        "target_components": {"gpu_hours": {"factor": 5}, "storage_gb_hours": {"factor": 10}},
    },
    "small_nodes": {
        "measured_unit": "n",
        "accounting_type": "limit",
        "label": "Small nodes",
        "target_components": {"nodes": {"factor": 1}},
    },
    "large_nodes": {
        "measured_unit": "n",
        "accounting_type": "limit",
        "label": "Large nodes",
        "target_components": {"nodes": {"factor": 4}},
    },
}


def a_scenario() -> dict[str, Any]:
    spec = seeds.default_scenario()
    offering = spec["offerings"][0]
    offering.update(name="Federated HPC", components=A_OFFERING_COMPONENTS)
    offering["plugin_options"]["username_generation_policy"] = "waldur_username"
    offering["plans"] = [{"name": "Default", "quotas": {}, "prices": {}}]
    return spec


def b_scenario() -> dict[str, Any]:
    return copy.deepcopy(
        {
            "seed": "waldur-b",
            "users": [
                {"username": "staff", "full_name": "B Staff", "is_staff": True},
                {"username": "b-provider", "full_name": "B Provider"},
                {
                    "username": "federator",
                    "full_name": "Federation service account",
                    "managed_isds": [ISD],
                },
                {"username": "alice-b", "email": "alice@example.org"},
                {"username": "bob-b", "email": "bob@example.org"},
                {"username": "carol-b", "email": "carol@example.org"},
                {"username": "dave", "email": "dave@b.example.org"},
            ],
            "customers": [
                {"name": "B Centre", "owners": ["b-provider"]},
                {"name": "Federation A", "owners": ["federator"]},
            ],
            "offerings": [
                {
                    "name": "GPU partition",
                    "customer": "B Centre",
                    "type": "Marketplace.Slurm",
                    # B's provider names its offering users, and its managers see them
                    "plugin_options": {"service_provider_can_create_offering_user": True},
                    "components": B_OFFERING_COMPONENTS,
                    "managers": ["federator"],
                    "plans": [{"name": "Standard", "quotas": {}, "prices": {}}],
                }
            ],
            "projects": [],
            "resources": [],
        }
    )


class BSide:
    """Waldur B as the test sees it: its ids, and its provider's hand on B's orders."""

    def __init__(self, sim: WaldurSimulator) -> None:
        self.sim = sim
        summary = sim.summary()
        self.offering = summary["offerings"][0]
        self.customer_uuid = next(
            c["uuid"] for c in sim.objects("customers") if c["name"] == "Federation A"
        )
        self.federator_token = sim.token("federator")
        self.provider = ConsumerClient(sim.api_url, sim.token("b-provider"))
        self.staff = ConsumerClient(sim.api_url, sim.staff_token)

    def settings(self, **extra: Any) -> dict[str, Any]:
        return {
            "target_api_url": self.sim.api_url,
            "target_api_token": self.federator_token,
            "target_offering_uuid": self.offering["uuid"],
            "target_customer_uuid": self.customer_uuid,
            "user_resolve_method": "remote_eduteams",
            "user_match_field": "email",
            **extra,
        }

    def orders(self, state: str | None = None) -> list[dict[str, Any]]:
        found = self.sim.objects("orders", offering=self.offering["uuid"])
        return [o for o in found if state is None or o["state"] == state]

    def finish(self, order_uuid: str) -> None:
        """B's provider (its own agent) approves the order and carries it out."""
        self.provider._call("POST", f"marketplace-orders/{order_uuid}/approve_by_provider/", {})
        self.provider._call("POST", f"marketplace-orders/{order_uuid}/set_state_done/", {})

    def reject(self, order_uuid: str, comment: str) -> None:
        body = {"provider_rejection_comment": comment}
        self.provider._call("POST", f"marketplace-orders/{order_uuid}/reject_by_provider/", body)

    def report_usage(self, resource_uuid: str, amounts: dict[str, float]) -> None:
        usages = [{"type": k, "amount": v} for k, v in amounts.items()]
        self.provider._call(
            "POST",
            "marketplace-component-usages/set_usage/",
            {"resource": resource_uuid, "usages": usages},
        )

    def report_user_usage(self, resource_uuid: str, component: str, username: str, amount: float):
        usage = next(
            u
            for u in self.provider._call(
                "GET", "marketplace-component-usages/", resource_uuid=resource_uuid
            )
            if u["type"] == component
        )
        body = {"usages": [{"username": username, "usage": amount}]}
        self.provider._call(
            "POST", f"marketplace-component-usages/{usage['uuid']}/set_user_usages/", body
        )

    def project_team(self, backend_id: str) -> dict[str, str]:
        """Username -> role in the B project that mirrors A's project `backend_id`."""
        (project,) = self.sim.objects("projects", backend_id=backend_id)
        users = {u["uuid"]: u["username"] for u in self.sim.objects("users")}
        return {
            users[r["user"]]: r["role"] for r in self.sim.objects("roles", project=project["uuid"])
        }

    def close(self) -> None:
        self.provider.close()
        self.staff.close()


@pytest.fixture
def sim_a():
    with WaldurSimulator(seed=a_scenario(), tick_interval=0) as simulator:
        yield simulator


@pytest.fixture
def a(sim_a):
    consumer = ConsumerClient(sim_a.api_url, sim_a.staff_token)
    yield consumer
    consumer.close()


@pytest.fixture
def sim_b():
    with WaldurSimulator(seed=b_scenario(), tick_interval=0) as simulator:
        yield simulator


@pytest.fixture
def b(sim_b):
    waldur_b = BSide(sim_b)
    yield waldur_b
    waldur_b.close()


# Helpers of the tests through the agent service.

LIMITS = {"cpu": 100, "small_nodes": 2, "large_nodes": 3}


def offering_config(sim_a, b, **settings):
    return {
        "name": "federated",
        "waldur_api_url": sim_a.api_url,
        "waldur_api_token": sim_a.provider_token,
        "waldur_offering_uuid": sim_a.summary()["offerings"][0]["uuid"],
        "backend_type": "waldur",
        "backend_settings": b.settings(order_poll_interval=0.5, **settings),
        "backend_components": COMPONENTS,
    }


def place(sim_a, a):
    """Staff orders on A in "Climate modelling" (alice admin, bob member): (order, project)."""
    summary = sim_a.summary()
    offering, project = summary["offerings"][0], summary["projects"][0]
    return a.order(offering["url"], project["url"], LIMITS, name="climate run"), project


def b_order(b, order_type, agent):
    """The order the agent placed on B, waiting for B's provider."""
    orders = wait_for(
        lambda: [o for o in b.orders("pending-provider") if o["type"] == order_type],
        what=f"a {order_type} order on Waldur B",
        log=agent.log,
    )
    assert len(orders) == 1, orders
    return orders[0]


def project_backend_id(sim_a, project):
    (stored,) = sim_a.objects("projects", uuid=project["uuid"])
    return f"{stored['customer']}_{project['uuid']}"


def created(sim_a, a, b, agent, before_done=None):
    """A resource on A whose B twin exists: (A resource, B resource UUID, the B project's id).
    `before_done(b_order)` runs before B's provider finishes the order."""
    order, project = place(sim_a, a)
    forwarded = b_order(b, "Create", agent)
    if before_done:
        before_done(forwarded)
    b.finish(forwarded["uuid"])
    done = wait_for(lambda: terminal(a, order["uuid"]), what="create on A", log=agent.log)
    assert done["state"] == "done", done
    resource = a.resource(done["marketplace_resource_uuid"])
    return resource, resource["backend_id"], project_backend_id(sim_a, project)
