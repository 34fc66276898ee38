"""Upstream's published MUP plugin (`waldur-site-agent-mup` 1.0.7) under this agent, against the
MUP stand-in: orders, usage and the team reach MUP and Waldur as upstream's processors get them."""

import pytest

from tests.e2e.harness import Agent, terminal, wait_for
from tests.mup.test_e2e import COMPONENTS, GRANT, SEED
from waldur_site_agent_actors.simulators.mup import MupSimulator
from waldur_site_agent_actors.simulators.waldur import WaldurSimulator
from waldur_site_agent_actors.simulators.waldur.client import ConsumerClient

pytestmark = pytest.mark.upstream


@pytest.fixture
def mup():
    with MupSimulator(password="s3cret-Mup-pass") as simulator:
        yield simulator


@pytest.fixture
def world(mup):
    with WaldurSimulator(SEED, tick_interval=0) as sim:
        consumer = ConsumerClient(sim.api_url, sim.staff_token)
        summary = sim.summary()
        projects = {p["name"].split(" /")[0]: p for p in summary["projects"]}
        yield sim, consumer, summary["offerings"][0], projects
        consumer.close()


def members(mup, project_id):
    return {m["username"]: m["active"] for m in mup.portal.list_members(project_id)}


def test_upstream_mup_orders_usage_and_team(tmp_path, mup, world, python):
    sim, consumer, offering, projects = world
    config = {
        "name": "upstream mup",
        "waldur_api_url": sim.api_url,
        "waldur_api_token": sim.provider_token,
        "waldur_offering_uuid": offering["uuid"],
        "backend_type": "mup",
        "plugin_distributions": {"mup": "waldur-site-agent-mup"},
        "backend_settings": {
            "api_url": mup.api_url,
            "username": mup.username,
            "password": mup.password,
        },
        "backend_components": COMPONENTS,
    }
    agent = Agent(tmp_path, [config]).start(python=python)
    try:
        climate = projects["Climate modelling"]
        order = consumer.order(offering["url"], climate["url"], {"cpu": 5, "storage": 100})
        created = wait_for(lambda: terminal(consumer, order["uuid"]), 60, "create", agent.log)
        assert created["state"] == "done", created
        resource = consumer.resource(created["marketplace_resource_uuid"])
        hexid = resource["uuid"].replace("-", "")
        assert resource["backend_id"] == f"alloc_{hexid}_cpu"
        project = mup.portal.project_by_grant(GRANT)
        assert project["pi"] == "alice@example.org"
        sizes = {a["identifier"]: a["size"] for a in mup.portal.list_allocations(project["id"])}
        assert sizes == {f"alloc_{hexid}_cpu": 5000, f"alloc_{hexid}_storage": 100}
        wait_for(
            lambda: members(mup, project["id"]) == {"aandersen": True, "bberg": True},
            what="the team in MUP",
            log=agent.log,
        )

        mup.portal.record_usage(f"alloc_{hexid}_cpu", "aandersen", 1500)
        mup.portal.record_usage(f"alloc_{hexid}_cpu", "bberg", 2600)

        def usage():
            rows = consumer._call(
                "GET", "marketplace-component-usages/", resource_uuid=resource["uuid"]
            )
            return {row["type"]: float(row["usage"]) for row in rows}

        # Upstream's MUP reports the first component only, in whole Waldur units.
        wait_for(lambda: usage().get("cpu") == 4.0, what="usage in Waldur", log=agent.log)

        update = consumer.update_limits(resource["uuid"], {"cpu": 8, "storage": 100})
        updated = wait_for(lambda: terminal(consumer, update), 60, "update", agent.log)
        assert updated["state"] == "done", updated
        assert mup.portal.allocation_by_identifier(f"alloc_{hexid}_cpu")["size"] == 8000

        consumer.remove_user(climate["uuid"], consumer.user_uuid("bob"))
        wait_for(
            lambda: members(mup, project["id"]) == {"aandersen": True, "bberg": False},
            what="bob deactivated",
            log=agent.log,
        )

        terminate = consumer.terminate(resource["uuid"])
        ended = wait_for(lambda: terminal(consumer, terminate), 60, "terminate", agent.log)
        assert ended["state"] == "done", ended
        assert consumer.resource(resource["uuid"])["state"] == "Terminated"

        # Waldur's admins see the pinned distribution's class as the processors' backend.
        registered = {(p["backend_type"], p["backend_version"]) for p in sim.objects("processors")}
        assert registered == {("waldur_site_agent_mup.backend.MUPBackend", "1.0.7")}
    finally:
        assert agent.stop() == 0
    log = agent.log()
    # The start-up log names the chosen distribution, why, and every candidate.
    assert (
        "backend 'mup' (waldur_site_agent_mup.backend:MUPBackend) from waldur-site-agent-mup "
        "1.0.7, pinned in plugin_distributions; candidates: waldur-site-agent-actors 0.1.0, "
        "waldur-site-agent-mup 1.0.7"
    ) in log
    assert mup.password not in log
