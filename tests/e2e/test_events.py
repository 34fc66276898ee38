"""event_process over a real RabbitMQ: orders complete by event, and survive broker restarts."""

import time

import pytest

from tests.e2e.harness import Agent, DemoDb, offering_config, terminal, wait_for
from waldur_site_agent_actors.simulators.waldur import WaldurSimulator
from waldur_site_agent_actors.simulators.waldur.client import ConsumerClient

pytestmark = pytest.mark.rabbitmq


def event_offering(sim, offering, state, rabbitmq):
    return {**offering_config(sim, offering, state), **rabbitmq.offering_stomp}


def test_orders_complete_by_event_and_across_a_broker_outage(tmp_path, rabbitmq):
    with WaldurSimulator(broker=rabbitmq.broker, tick_interval=0) as sim:
        summary = sim.summary()
        offering, projects = summary["offerings"][0], summary["projects"]
        # Polling only once an hour: anything done within seconds was done by an event.
        agent = Agent(
            tmp_path,
            [event_offering(sim, offering, tmp_path / "state", rabbitmq)],
            order_process_period_minutes=60,
            reconciliation_period_minutes=60,
        ).start("-m", "event_process")  # alone, as upstream's event mode runs
        consumer = ConsumerClient(sim.api_url, sim.staff_token)
        try:
            wait_for(
                lambda: "listening on consumer_" in agent.log(),
                what="the agent to listen",
                log=agent.log,
            )
            time.sleep(0.5)  # the first polling sweep has run; what follows is events only
            started = time.monotonic()
            order = consumer.order(offering["url"], projects[0]["url"], {"cpu": 1, "mem": 1})
            done = wait_for(
                lambda: terminal(consumer, order["uuid"]),
                timeout=15,
                what="the order, by event",
                log=agent.log,
            )
            assert done["state"] == "done"
            assert time.monotonic() - started < 10

            with rabbitmq.outage():
                # Published while the broker is down: the event is lost at the source.
                missed = consumer.order(offering["url"], projects[1]["url"], {"cpu": 2, "mem": 2})
            done = wait_for(
                lambda: terminal(consumer, missed["uuid"]),
                timeout=60,
                what="the order missed during the outage",
                log=agent.log,
            )
            assert done["state"] == "done"
            assert "broker connection lost" in agent.log()

            after = consumer.order(offering["url"], projects[0]["url"], {"cpu": 3, "mem": 3})
            done = wait_for(
                lambda: terminal(consumer, after["uuid"]),
                timeout=30,
                what="an order after the reconnect",
                log=agent.log,
            )
            assert done["state"] == "done"
        finally:
            consumer.close()
            assert agent.stop() == 0
            rabbitmq.forget(sim)


@pytest.mark.parametrize("on_events", [False, True], ids=["polled", "by_events"])
def test_stomp_membership_sync_enabled_chooses_how_team_changes_arrive(
    tmp_path, rabbitmq, on_events
):
    """False keeps membership on polling beside the events (upstream: the agent's queue gets no
    membership events, the membership_sync mode polls); true takes team changes from events,
    with polling only as the hourly reconciliation."""
    with WaldurSimulator(broker=rabbitmq.broker, tick_interval=0) as sim:
        summary = sim.summary()
        offering, projects = summary["offerings"][0], summary["projects"]
        config = event_offering(sim, offering, tmp_path / "state", rabbitmq)
        config["stomp_membership_sync_enabled"] = on_events
        db = DemoDb(tmp_path / "state" / "demo-hpc.sqlite")
        agent = Agent(
            tmp_path,
            [config],
            reconciliation_period_minutes=60,
            # Polled every second when false; when true, only events can be this quick.
            membership_sync_period_minutes=0.02 if not on_events else 60,
        ).start()
        consumer = ConsumerClient(sim.api_url, sim.staff_token)
        try:
            wait_for(lambda: "listening on consumer_" in agent.log(), what="events", log=agent.log)
            [queue] = sim.objects("agent_queues")
            assert "order" in queue["object_types"]
            assert ("user_role" in queue["object_types"]) is on_events, queue["object_types"]

            order = consumer.order(offering["url"], projects[0]["url"], {"cpu": 1, "mem": 1})
            done = wait_for(lambda: terminal(consumer, order["uuid"]), what="create", log=agent.log)
            account = consumer.resource(done["marketplace_resource_uuid"])["backend_id"]
            wait_for(lambda: db.members(account), what="the team linked", log=agent.log)
            consumer.add_user(projects[0]["uuid"], consumer.user_uuid("carol"))
            wait_for(
                lambda: "cclark" in db.members(account),
                timeout=15,
                what="carol linked",
                log=agent.log,
            )
        finally:
            consumer.close()
            assert agent.stop() == 0
            rabbitmq.forget(sim)
