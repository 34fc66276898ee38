"""Upstream's published MOAB plugin (`waldur-site-agent-moab` 1.0.7) under this agent, driving
the `mam-*` stand-ins: orders, members and charges as upstream's processors would have them."""

import os
from datetime import UTC, datetime

import pytest

from tests.e2e.harness import Agent, terminal, wait_for
from tests.moab.conftest import mam  # noqa: F401 - the stand-ins, first on PATH
from tests.moab.world import DEPOSIT, moab_scenario
from waldur_site_agent_actors.simulators.waldur import WaldurSimulator

pytestmark = pytest.mark.upstream


@pytest.fixture
def sim():
    with WaldurSimulator(moab_scenario(), tick_interval=0) as simulator:
        yield simulator


def lines(mam, *argv):  # noqa: F811 - the fixture
    return mam.ok(*argv, "--raw", "--quiet").splitlines()


def test_upstream_moab_orders_members_and_charges(tmp_path, sim, consumer, mam, python):  # noqa: F811
    offering, projects = sim.summary()["offerings"][0], sim.summary()["projects"]
    config = {
        "name": "upstream moab",
        "waldur_api_url": sim.api_url,
        "waldur_api_token": sim.provider_token,
        "waldur_offering_uuid": offering["uuid"],
        "backend_type": "moab",
        "plugin_distributions": {"moab": "waldur-site-agent-moab"},
        "backend_settings": {"allocation_prefix": "waldur_", "project_prefix": "proj_"},
        "backend_components": {"deposit": DEPOSIT},
    }
    # Upstream's plugin links users MAM already has (a site's accounts); it creates none.
    for user in ("aandersen", "bberg"):
        mam.ok("mam-create-user", "-u", user)
    agent = Agent(tmp_path, [config]).start(python=python, env={"PATH": os.environ["PATH"]})
    try:
        order = consumer.order(offering["url"], projects[0]["url"], {"deposit": 100})
        created = wait_for(lambda: terminal(consumer, order["uuid"]), 60, "create", agent.log)
        assert created["state"] == "done", created
        resource = consumer.resource(created["marketplace_resource_uuid"])
        account = resource["backend_id"]
        assert account == f"waldur_{resource['slug']}"
        project = f"proj_{resource['project_slug']}"
        assert sorted(lines(mam, "mam-list-accounts", "--show", "Name,Organization")) == [
            f"{project}|{project}",
            f"{account}|{project}",
        ]
        assert lines(mam, "mam-list-funds", "--show", "Allocated", "-a", account) == ["100.000"]

        def members():
            return lines(mam, "mam-list-users", "--show", "Name", "-a", account)

        wait_for(lambda: members() == ["aandersen", "bberg"], what="team in MAM", log=agent.log)
        consumer.remove_user(projects[0]["uuid"], consumer.user_uuid("bob"))
        wait_for(lambda: members() == ["aandersen"], what="bob out", log=agent.log)

        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        mam.ok("mam-charge", "-J", "j1", "-a", account, "-u", "aandersen", "-z", "12.5", "-e", now)

        def usage():
            rows = consumer._call(
                "GET", "marketplace-component-usages/", resource_uuid=resource["uuid"]
            )
            return {row["type"]: float(row["usage"]) for row in rows}

        wait_for(lambda: usage() == {"deposit": 12.5}, what="usage in Waldur", log=agent.log)

        update = consumer.update_limits(resource["uuid"], {"deposit": 150})
        updated = wait_for(lambda: terminal(consumer, update), 60, "update", agent.log)
        assert updated["state"] == "done", updated
        # Upstream's plugin deposits the new limit on top of the fund (`mam-deposit -z 150`).
        assert lines(mam, "mam-list-funds", "--show", "Allocated", "-a", account) == ["250.000"]

        terminate = consumer.terminate(resource["uuid"])
        ended = wait_for(lambda: terminal(consumer, terminate), 60, "terminate", agent.log)
        assert ended["state"] == "done", ended
        assert account not in lines(mam, "mam-list-accounts", "--show", "Name")
    finally:
        assert agent.stop() == 0
    assert "'moab' (waldur_site_agent_moab.backend:MoabBackend) from waldur-site-agent-moab" in (
        agent.log()
    )
