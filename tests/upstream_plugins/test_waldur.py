"""Upstream's published federation plugin (`waldur-site-agent-waldur` 1.0.7) under this agent,
between two Waldur simulators: A's orders become B's orders and finish when B's do (upstream's
asynchronous orders), usage comes back through the component mapping, the team is mirrored."""

import copy
from uuid import UUID

import pytest

from tests.e2e.harness import Agent, terminal, wait_for
from tests.federation.conftest import COMPONENTS, LIMITS, BSide, a_scenario, b_scenario
from waldur_site_agent_actors.simulators.waldur import WaldurSimulator
from waldur_site_agent_actors.simulators.waldur.client import ConsumerClient

pytestmark = pytest.mark.upstream


def same_usernames_on_b():
    """B's people under A's usernames: upstream resolves members on B by a field of theirs."""
    spec = copy.deepcopy(b_scenario())
    for user in spec["users"]:
        user["username"] = user["username"].removesuffix("-b")
    return spec


@pytest.fixture
def federation():
    with (
        WaldurSimulator(seed=a_scenario(), tick_interval=0) as sim_a,
        WaldurSimulator(seed=same_usernames_on_b(), tick_interval=0) as sim_b,
    ):
        a = ConsumerClient(sim_a.api_url, sim_a.staff_token)
        b = BSide(sim_b)
        yield sim_a, a, b
        a.close()
        b.close()


def b_order(b, kind, agent):
    return wait_for(
        lambda: next((o for o in b.orders("pending-provider") if o["type"] == kind), None),
        what=f"a {kind} order on Waldur B",
        log=agent.log,
    )


def test_upstream_federation_between_two_waldurs(tmp_path, federation, python):
    sim_a, a, b = federation
    offering = sim_a.summary()["offerings"][0]
    project = sim_a.summary()["projects"][0]
    config = {
        "name": "upstream federation",
        "waldur_api_url": sim_a.api_url,
        "waldur_api_token": sim_a.provider_token,
        "waldur_offering_uuid": offering["uuid"],
        "backend_type": "waldur",
        "plugin_distributions": {"waldur": "waldur-site-agent-waldur"},
        "backend_settings": b.settings(
            user_resolve_method="user_field", user_match_field="username"
        ),
        "backend_components": COMPONENTS,
    }
    agent = Agent(tmp_path, [config]).start(python=python)
    try:
        order = a.order(offering["url"], project["url"], LIMITS, name="climate run")
        forwarded = b_order(b, "Create", agent)
        assert forwarded["limits"] == {"cpu": 100, "nodes": 2 * 1 + 3 * 4}
        waiting = wait_for(
            lambda: (o := a.order_details(order["uuid"]))["backend_id"] and o,
            what="A's order to remember B's",
            log=agent.log,
        )
        # Upstream's plugin writes B's UUIDs dashed.
        assert (waiting["state"], UUID(waiting["backend_id"])) == (
            "executing",
            UUID(forwarded["uuid"]),
        )
        b.finish(forwarded["uuid"])
        created = wait_for(lambda: terminal(a, order["uuid"]), 60, "create on A", agent.log)
        assert created["state"] == "done", created
        resource = a.resource(created["marketplace_resource_uuid"])
        twin = resource["backend_id"]
        assert UUID(twin) == UUID(forwarded["resource"])
        (stored,) = sim_a.objects("projects", uuid=project["uuid"])
        mirrored = f"{UUID(stored['customer'])}_{UUID(project['uuid'])}"
        wait_for(
            lambda: b.project_team(mirrored) == {"alice": "PROJECT.ADMIN", "bob": "PROJECT.MEMBER"},
            what="the team on B",
            log=agent.log,
        )

        # B's own provider names its resource; upstream's `sync_resource_effective_id`, given a
        # client for A, makes that A's effective id.
        twin_hex = UUID(twin).hex
        b.provider._call(
            "POST",
            f"marketplace-provider-resources/{twin_hex}/set_backend_id/",
            {"backend_id": "b_slurm_account"},
        )
        wait_for(
            lambda: a.resource(resource["uuid"])["effective_id"] == "b_slurm_account",
            what="B's backend id as A's effective id",
            log=agent.log,
        )

        b.report_usage(twin, {"cpu": 40, "nodes": 8, "gpu_hours": 500, "storage_gb_hours": 800})

        def usage():
            found = sim_a.objects("component_usages", resource=resource["uuid"])
            return {u["type"]: float(u["usage"]) for u in found}

        # Back through the mapping: node_hours = 500 / 5 + 800 / 10; nodes split by factor.
        wait_for(
            lambda: usage().get("node_hours") == 180.0 and usage().get("cpu") == 40.0,
            what="B's usage on A in A's components",
            log=agent.log,
        )

        update = a.update_limits(resource["uuid"], {**LIMITS, "cpu": 200})
        forwarded_update = b_order(b, "Update", agent)
        assert forwarded_update["limits"]["cpu"] == 200, forwarded_update
        b.finish(forwarded_update["uuid"])
        updated = wait_for(lambda: terminal(a, update), 60, "update on A", agent.log)
        assert updated["state"] == "done", updated

        terminate = a.terminate(resource["uuid"])
        b.finish(b_order(b, "Terminate", agent)["uuid"])
        ended = wait_for(lambda: terminal(a, terminate), 60, "terminate on A", agent.log)
        assert ended["state"] == "done", ended
        (gone,) = b.sim.objects("resources", uuid=UUID(twin).hex)
        assert gone["state"] == "Terminated"
    finally:
        assert agent.stop() == 0
    assert "from waldur-site-agent-waldur 1.0.7, pinned in plugin_distributions" in agent.log()
