"""The moab backend through the whole agent: a real `waldur-site-agent run` process, the Waldur
simulator, and the mam-* stand-in first on the agent's PATH."""

import os
from datetime import UTC, datetime

import pytest

from tests.e2e.harness import Agent, terminal, wait_for
from tests.moab.world import DEPOSIT, moab_scenario
from waldur_site_agent_actors.simulators.waldur import WaldurSimulator


@pytest.fixture
def sim():
    with WaldurSimulator(moab_scenario(), tick_interval=0) as simulator:
        yield simulator


@pytest.fixture
def agent(tmp_path, sim, mam):
    offering = sim.summary()["offerings"][0]
    config = {
        "name": "moab",
        "waldur_api_url": sim.api_url,
        "waldur_api_token": sim.provider_token,
        "waldur_offering_uuid": offering["uuid"],
        "backend_type": "moab",
        "backend_settings": {"allocation_prefix": "waldur_", "project_prefix": "proj_"},
        "backend_components": {"deposit": DEPOSIT},
    }
    process = Agent(tmp_path, [config]).start(env={"PATH": os.environ["PATH"]})
    yield process
    assert process.stop() == 0


def lines(mam, *argv):
    return mam.ok(*argv, "--raw", "--quiet").splitlines()


def done(consumer, agent, order_uuid, what):
    order = wait_for(lambda: terminal(consumer, order_uuid), what=what, log=agent.log)
    return order


def test_orders_membership_usage_and_an_erred_update(sim, consumer, agent, mam):
    offering, projects = sim.summary()["offerings"][0], sim.summary()["projects"]
    order = consumer.order(offering["url"], projects[0]["url"], {"deposit": 100})
    created = done(consumer, agent, order["uuid"], "create")
    assert created["state"] == "done", created
    resource = consumer.resource(created["marketplace_resource_uuid"])
    account = resource["backend_id"]
    assert account.startswith("waldur_")
    slug = consumer._call("GET", "projects/" + projects[0]["uuid"] + "/")["slug"]
    project = f"proj_{slug}"
    assert lines(mam, "mam-list-accounts", "--show", "Name,Organization") == [
        f"{project}|{project}",
        f"{account}|{project}",
    ]
    assert lines(mam, "mam-list-funds", "--show", "Allocated", "-a", project) == ["0.000"]
    assert lines(mam, "mam-list-funds", "--show", "Allocated,Balance", "-a", account) == [
        "100.000|100.000"
    ]

    # membership: the project team, with generated usernames, becomes the account's users
    def members():
        return lines(mam, "mam-list-users", "--show", "Name", "-a", account)

    wait_for(lambda: members() == ["aandersen", "bberg"], what="team in MAM", log=agent.log)
    consumer.add_user(projects[0]["uuid"], consumer.user_uuid("carol"))
    consumer.remove_user(projects[0]["uuid"], consumer.user_uuid("bob"))
    wait_for(lambda: members() == ["aandersen", "cclark"], what="carol in, bob out", log=agent.log)

    # usage: charges Moab made this month reach Waldur as deposit usage, per user too
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    mam.ok("mam-charge", "-J", "job.1", "-a", account, "-u", "aandersen", "-z", "12.5", "-e", now)
    mam.ok("mam-charge", "-J", "job.2", "-a", account, "-u", "cclark", "-z", "7.25", "-e", now)

    def usage():
        rows = consumer._call(
            "GET", "marketplace-component-usages/", resource_uuid=resource["uuid"]
        )
        return {row["type"]: float(row["usage"]) for row in rows}

    def user_usage():
        rows = consumer._call(
            "GET", "marketplace-component-user-usages/", resource_uuid=resource["uuid"]
        )
        return {row["username"]: float(row["usage"]) for row in rows}

    wait_for(lambda: usage() == {"deposit": 19.75}, what="usage in Waldur", log=agent.log)
    wait_for(
        lambda: user_usage() == {"aandersen": 12.5, "cclark": 7.25},
        what="per-user usage",
        log=agent.log,
    )
    wait_for(
        lambda: consumer.resource(resource["uuid"])["backend_metadata"].get("balance") == 80.25,
        what="the fund's balance in the resource metadata",
        log=agent.log,
    )

    # update: a higher limit deposits the difference
    update = done(consumer, agent, consumer.update_limits(resource["uuid"], {"deposit": 150}), "up")
    assert update["state"] == "done", update
    assert lines(mam, "mam-list-funds", "--show", "Allocated,Balance", "-a", account) == [
        "150.000|130.250"
    ]

    # error path: MAM refuses to withdraw credits that were already spent
    mam.ok("mam-charge", "-J", "job.3", "-a", account, "-u", "cclark", "-z", "100", "-e", now)
    lowered = consumer.update_limits(resource["uuid"], {"deposit": 20})
    erred = done(consumer, agent, lowered, "lowering below what was spent")
    assert erred["state"] == "erred", erred
    assert "Insufficient balance: fund 2 has 30.25 credits, 130 requested" in erred["error_message"]
    assert lines(mam, "mam-list-funds", "--show", "Allocated", "-a", account) == ["150.000"]

    # terminate: the fund and the account go, and the project account with its last allocation
    terminated = done(consumer, agent, consumer.terminate(resource["uuid"]), "terminate")
    assert terminated["state"] == "done", terminated
    assert lines(mam, "mam-list-accounts", "--show", "Name") == []
    assert lines(mam, "mam-list-funds", "--show", "Id") == []
