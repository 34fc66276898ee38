"""`resource_import_enabled`: Waldur's requests for the backend's resources, answered by the
running agent, by event (over a real RabbitMQ) or by the order sweep when the event was missed."""

from pathlib import Path

import pytest

from tests.e2e.harness import Agent, offering_config, terminal, wait_for
from waldur_site_agent_actors.backends.demo.store import Store
from waldur_site_agent_actors.simulators.waldur import WaldurSimulator
from waldur_site_agent_actors.simulators.waldur import seed as seeds
from waldur_site_agent_actors.simulators.waldur.client import ConsumerClient


def hand_made_accounts(path: Path, project_slug: str) -> None:
    """Accounts an operator made before the agent: one of a Waldur project, one of none."""
    store = Store(path)
    store.add_account("legacy_run", "Legacy run", f"p_{project_slug}", "")
    store.execute("INSERT INTO limits VALUES ('legacy_run', 'cpu', 600000)")
    store.add_account("orphan_run", "Orphan", "p_no-such-project", "")
    store.db.close()


def offered(consumer):
    return {b["backend_id"]: b for b in consumer._call("GET", "backend-resources/")}


def answered(sim, request_uuid):
    (request,) = sim.objects("backend_requests", uuid=request_uuid)
    return request if request["state"] in ("Done", "Erred") else None


def check_offers(sim, consumer, project, request_uuid, agent, agents_account):
    request = wait_for(lambda: answered(sim, request_uuid), what="the answer", log=agent.log)
    assert request["state"] == "Done", request
    found = offered(consumer)
    assert set(found) == {"legacy_run"}, "only the account of a Waldur project Waldur lacks"
    legacy = found["legacy_run"]
    assert (legacy["name"], legacy["project"]) == ("Legacy run", project["uuid"])
    assert legacy["backend_metadata"] == {"limits": {"cpu": 10.0}}
    assert agents_account not in found


def order_one(consumer, offering, project, agent):
    order = consumer.order(offering["url"], project["url"], {"cpu": 1, "mem": 1})
    done = wait_for(lambda: terminal(consumer, order["uuid"]), what="create", log=agent.log)
    assert done["state"] == "done", done
    return consumer.resource(done["marketplace_resource_uuid"])["backend_id"]


def request_import(sim, offering):
    provider = ConsumerClient(sim.api_url, sim.provider_token)
    try:
        return provider._call("POST", "backend-resource-requests/", {"offering": offering["uuid"]})
    finally:
        provider.close()


def test_a_request_whose_event_was_missed_is_answered_by_the_order_sweep(
    tmp_path, sim, consumer, world
):
    offering, projects = world
    slug = consumer._call("GET", f"projects/{projects[0]['uuid']}/")["slug"]
    hand_made_accounts(tmp_path / "state" / "demo-hpc.sqlite", slug)
    config = offering_config(sim, offering, tmp_path / "state", project_prefix="p_")
    config["resource_import_enabled"] = True
    agent = Agent(tmp_path, [config]).start()  # polling: no event reaches it
    try:
        account = order_one(consumer, offering, projects[0], agent)
        request = request_import(sim, offering)
        check_offers(sim, consumer, projects[0], request["uuid"], agent, account)
        again = request_import(sim, offering)
        wait_for(lambda: answered(sim, again["uuid"]), what="a second answer", log=agent.log)
        assert len(offered(consumer)) == 1, "an offered account is not offered twice"
    finally:
        assert agent.stop() == 0


@pytest.mark.rabbitmq
def test_a_request_is_answered_at_once_by_its_event(tmp_path, rabbitmq):
    # A seed of its own: queues of the shared broker left by another run never reach it.
    spec = {**seeds.default_scenario(), "seed": "resource-import-events"}
    with WaldurSimulator(spec, broker=rabbitmq.broker, tick_interval=0) as sim:
        summary = sim.summary()
        offering, projects = summary["offerings"][0], summary["projects"]
        consumer = ConsumerClient(sim.api_url, sim.staff_token)
        slug = consumer._call("GET", f"projects/{projects[0]['uuid']}/")["slug"]
        hand_made_accounts(tmp_path / "state" / "demo-hpc.sqlite", slug)
        config = {
            **offering_config(sim, offering, tmp_path / "state", project_prefix="p_"),
            **rabbitmq.offering_stomp,
            "resource_import_enabled": True,
        }
        # Sweeps once an hour: an answer within seconds came by the event.
        agent = Agent(
            tmp_path, [config], order_process_period_minutes=60, reconciliation_period_minutes=60
        ).start("-m", "event_process")
        try:
            wait_for(lambda: "listening on" in agent.log(), what="the queue", log=agent.log)
            account = order_one(consumer, offering, projects[0], agent)
            request = request_import(sim, offering)
            check_offers(sim, consumer, projects[0], request["uuid"], agent, account)
        finally:
            consumer.close()
            assert agent.stop() == 0
            rabbitmq.forget(sim)
