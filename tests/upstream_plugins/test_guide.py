"""A plugin written as the seed's Plugin Development Guide teaches (guide_plugin/: its imports
from `waldur_site_agent.backend`, its pyproject, its usage report), and upstream's published
`base` username backend (`waldur-site-agent-basic-username-management` 1.0.7), under this agent:
orders, usage and members, with upstream's `user_context` reaching the plugin."""

import json
from datetime import UTC, datetime

import pytest

from tests.e2e.harness import Agent, terminal, wait_for
from tests.upstream_plugins.state import read_state
from waldur_site_agent_actors.agent.demo import COMPONENTS
from waldur_site_agent_actors.simulators.waldur import WaldurSimulator
from waldur_site_agent_actors.simulators.waldur.client import ConsumerClient
from waldur_site_agent_actors.simulators.waldur.seed import default_scenario

pytestmark = pytest.mark.upstream
BASIC = "waldur-site-agent-basic-username-management"


def test_guide_plugin_with_upstreams_username_backend(tmp_path, sim, consumer, world, python):
    offering, projects = world
    state = tmp_path / "mycustom.json"
    config = {
        "name": "guide plugin",
        "waldur_api_url": sim.api_url,
        "waldur_api_token": sim.provider_token,
        "waldur_offering_uuid": offering["uuid"],
        "backend_type": "mycustom",
        "username_management_backend": "base",
        "plugin_distributions": {"base": BASIC},
        "backend_settings": {"state_file": str(state), "allocation_prefix": "alloc_"},
        "backend_components": COMPONENTS,
    }
    key = next(k for k in sim.objects("ssh_keys") if k["name"] == "laptop")
    agent = Agent(tmp_path, [config]).start(python=python)
    try:
        order = consumer.order(
            offering["url"],
            projects[0]["url"],
            {"cpu": 10, "mem": 20},
            plan_url=offering["plans"][0]["url"],
            attributes={"ssh_public_key": key["uuid"]},
        )
        created = wait_for(lambda: terminal(consumer, order["uuid"]), 60, "create", agent.log)
        assert created["state"] == "done", created
        resource = consumer.resource(created["marketplace_resource_uuid"])
        account = resource["backend_id"]
        assert account == f"alloc_{resource['slug']}"
        accounts = read_state(state)["accounts"]
        assert accounts[account]["limits"] == {"cpu": 600_000, "mem": 1_228_800}
        # What upstream's user_context carries: the provider's key found by the UUID in the
        # order, the plan's quotas, the team as ProjectUser models.
        assert resource["backend_metadata"] == {
            "ssh_key": key["public_key"],
            "plan_quotas": {"cpu": 1000, "mem": 2000},
            "team": ["alice", "bob"],
        }

        # Upstream's `base` makes no usernames: the users stay without one, not stranded;
        # named as another tool would name them, they become the account's users.
        for user in sim.objects("offering_users"):
            assert not user.get("username"), user
        for user in sim.objects("offering_users"):
            consumer._call(
                "PATCH",
                f"marketplace-offering-users/{user['uuid']}/",
                {"username": next(u["username"] for u in sim.objects("users", uuid=user["user"]))},
            )

        def users():
            return sorted(read_state(state)["accounts"][account]["users"])

        wait_for(lambda: users() == ["alice", "bob"], what="the team on the account", log=agent.log)

        state.with_name(f"{state.name}.usage").write_text(
            json.dumps({account: {"alice": {"cpu": 90_000, "gpu": 120}, "bob": {"cpu": 30_000}}})
        )
        period = datetime.now(UTC).strftime("%Y-%m-01")

        def usage():
            rows = sim.objects("component_usages", billing_period=period)
            return {
                row["type"]: row["usage"] for row in rows if row["resource"] == resource["uuid"]
            }

        wait_for(
            lambda: usage() == {"cpu": "2.00", "mem": "0.00", "gpu": "2.00"},
            what="usage in Waldur units",
            log=agent.log,
        )
        per_user = wait_for(
            lambda: {
                (u["username"], u["component_type"]): u["usage"]
                for u in consumer._call(
                    "GET", "marketplace-component-user-usages/", resource_uuid=resource["uuid"]
                )
            },
            what="per-user usage",
            log=agent.log,
        )
        assert per_user[("alice", "cpu")] == "1.50" and per_user[("bob", "cpu")] == "0.50"

        consumer.remove_user(projects[0]["uuid"], consumer.user_uuid("bob"))
        wait_for(lambda: users() == ["alice"], what="bob off the account", log=agent.log)

        update = consumer.update_limits(resource["uuid"], {"cpu": 12, "mem": 20})
        updated = wait_for(lambda: terminal(consumer, update), 60, "update", agent.log)
        assert updated["state"] == "done", updated
        limits = read_state(state)["accounts"][account]["limits"]
        assert limits == {"cpu": 720_000, "mem": 1_228_800}

        terminate = consumer.terminate(resource["uuid"])
        ended = wait_for(lambda: terminal(consumer, terminate), 60, "terminate", agent.log)
        assert ended["state"] == "done", ended
        assert account not in read_state(state)["accounts"]
    finally:
        assert agent.stop() == 0
    log = agent.log()
    assert (
        "username backend 'base' (waldur_site_agent_basic_username_management.backend:"
        f"BaseUsernameManagementBackend) from {BASIC} 1.0.7, pinned in plugin_distributions"
    ) in log
    assert sim.provider_token not in log


@pytest.mark.parametrize("policy", ["project_slug", "slug"])
def test_a_taken_name_is_upstreams_duplicate_never_an_account_taken_over(tmp_path, python, policy):
    """Upstream's naming policy decides: under `project_slug` the next name is tried; by
    resource slug, the only name is taken and the order fails. The account already there is
    never adopted, nor recorded in Waldur as the resource's."""
    spec = default_scenario()
    spec["offerings"][0]["plugin_options"]["account_name_generation_policy"] = policy
    with WaldurSimulator(spec, tick_interval=0) as sim:
        consumer = ConsumerClient(sim.api_url, sim.staff_token)
        offering, project = sim.summary()["offerings"][0], sim.summary()["projects"][0]
        state = tmp_path / "mycustom.json"
        taken = {"description": "someone else's", "organization": "", "parent": None}
        taken.update(limits={}, user_limits={}, users=["mallory"])
        name = "alloc_climate-modelling" if policy == "project_slug" else "alloc_slurm-cluster-30"
        state.write_text(json.dumps({"accounts": {name: taken}}))
        config = {
            "name": "guide plugin",
            "waldur_api_url": sim.api_url,
            "waldur_api_token": sim.provider_token,
            "waldur_offering_uuid": offering["uuid"],
            "backend_type": "mycustom",
            "backend_settings": {
                "state_file": str(state),
                "allocation_prefix": "alloc_",
                "backend_id_max_retries": 3,
            },
            "backend_components": COMPONENTS,
        }
        agent = Agent(tmp_path, [config]).start(python=python)
        try:
            order = consumer.order(offering["url"], project["url"], {"cpu": 1, "mem": 1})
            ended = wait_for(lambda: terminal(consumer, order["uuid"]), 60, "create", agent.log)
            resource = consumer.resource(ended["marketplace_resource_uuid"])
            if policy == "project_slug":
                assert ended["state"] == "done", ended
                assert resource["backend_id"] == "alloc_climate-modelling-0"
            else:
                assert ended["state"] == "erred", ended
                assert f"1 name(s) from {name!r} on are held" in ended["error_message"], ended
                # The taken name was never told to Waldur as this resource's.
                assert not resource["backend_id"], resource
            assert read_state(state)["accounts"][name]["users"] == ["mallory"]
        finally:
            assert agent.stop() == 0
        consumer.close()
