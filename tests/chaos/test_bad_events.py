"""Bad messages in the agent's real queue on the real RabbitMQ: each one is logged with its
reason and acknowledged, nothing changes, and the next real event is served at once."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.chaos.hostile import send_raw
from tests.e2e.harness import Agent, offering_config, terminal, wait_for
from waldur_site_agent_actors.simulators.waldur import WaldurSimulator
from waldur_site_agent_actors.simulators.waldur.client import ConsumerClient
from waldur_site_agent_actors.simulators.waldur.seed import default_scenario

pytestmark = pytest.mark.rabbitmq

BAD_MESSAGES = [
    ("{not json", "not a valid event payload"),
    (b"\xff\xfe\x00garbage", "not a valid event payload"),
    ("[1, 2, 3]", "not a valid event payload"),
    ('{"object_type": "order", "order_uuid": 42}', "not a valid event payload"),
    (json.dumps({"object_type": "order", "pad": "x" * 300_000}), "over the 262144 byte limit"),
    ('{"object_type": "mystery", "uuid": "1"}', "event type 'mystery' is not handled"),
    ('{"object_type": "order"}', "order event without order_uuid"),
    ('{"object_type": "user_role", "granted": true}', "user_role event without project_uuid"),
    (
        json.dumps({"object_type": "order", "order_uuid": "../../users/me", "order_state": "x"}),
        "not a UUID",
    ),
    (
        json.dumps(
            {"object_type": "order", "order_uuid": uuid.uuid4().hex, "order_state": "executing"}
        ),
        "No Order matches the given query",
    ),
]


def test_bad_messages_are_dropped_with_a_reason_and_change_nothing(tmp_path, rabbitmq):
    # A seed of its own: no other session's agent consumes from the same queue names.
    scenario = {**default_scenario(), "seed": "chaos-bad-events"}
    with WaldurSimulator(seed=scenario, broker=rabbitmq.broker, tick_interval=0) as sim:
        summary = sim.summary()
        offering, projects = summary["offerings"][0], summary["projects"]
        config = {
            **offering_config(sim, offering, tmp_path / "state"),
            **rabbitmq.offering_stomp,
        }
        # Sweeps an hour apart: whatever happens within the test happened by event.
        agent = Agent(
            tmp_path, [config], order_process_period_minutes=60, reconciliation_period_minutes=60
        ).start()
        consumer = ConsumerClient(sim.api_url, sim.staff_token)
        try:
            wait_for(lambda: "listening on consumer_" in agent.log(), what="the agent to listen")
            (queue,) = sim.objects("agent_queues")
            orders_before = len(sim.objects("orders"))
            for body, reason in BAD_MESSAGES:
                send_raw(rabbitmq, queue["vhost"], queue["queue_name"], body)
                wait_for(lambda r=reason: r in agent.log(), what=reason, log=agent.log)

            order = consumer.order(offering["url"], projects[0]["url"], {"cpu": 1, "mem": 1})
            done = wait_for(
                lambda: terminal(consumer, order["uuid"]),
                timeout=15,
                what="a real order, by event, after the bad ones",
                log=agent.log,
            )
            assert done["state"] == "done"
            wait_for(
                lambda: (
                    (info := rabbitmq.broker.queue_info(queue["vhost"], queue["queue_name"]))
                    and info.get("messages", 1) == 0
                ),
                what="every message acknowledged (none redelivered forever)",
            )
            assert len(sim.objects("orders")) == orders_before + 1
        finally:
            consumer.close()
            assert agent.stop() == 0
            rabbitmq.forget(sim)
        log = agent.log()
        assert "Unhandled exception" not in log
        assert " died" not in log
        assert sim.provider_token not in log
