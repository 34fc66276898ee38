"""Waldur B's order events over a real RabbitMQ: B finishing an order finishes A's within
seconds, while every poll of A and of B is an hour away."""

import time

import pytest

from tests.e2e.harness import Agent, terminal, wait_for
from tests.federation.conftest import BSide, b_order, b_scenario, offering_config, place
from waldur_site_agent_actors.simulators.waldur import WaldurSimulator

pytestmark = pytest.mark.rabbitmq
HOUR = 3600


def test_b_finishing_an_order_finishes_as_order_by_event(tmp_path, rabbitmq, sim_a, a):
    with WaldurSimulator(seed=b_scenario(), broker=rabbitmq.broker, tick_interval=0) as sim_b:
        b = BSide(sim_b)
        config = offering_config(sim_a, b)
        config["backend_settings"].update(
            order_poll_interval=HOUR,
            target_stomp_enabled=True,
            target_stomp_ws_host=rabbitmq.host,
            target_stomp_ws_port=rabbitmq.ws_port,
            target_stomp_ws_path=rabbitmq.ws_path,
            target_websocket_use_tls=False,
        )
        order, _ = place(sim_a, a)  # the agent's first order cycle, at its start, forwards it
        agent = Agent(
            tmp_path,
            [config],
            order_process_period_minutes=60,
            membership_sync_period_minutes=60,
            report_period_minutes=60,
        ).start()
        try:
            wait_for(
                lambda: "listening on consumer_" in agent.log(),
                what="the agent to listen to Waldur B",
                log=agent.log,
            )
            forwarded = b_order(b, "Create", agent)
            wait_for(
                lambda: a.order_details(order["uuid"])["backend_id"],
                what="A's order to wait for B's",
                log=agent.log,
            )
            started = time.monotonic()
            b.finish(forwarded["uuid"])
            done = wait_for(
                lambda: terminal(a, order["uuid"]),
                timeout=15,
                what="A's order, by event",
                log=agent.log,
            )
            assert done["state"] == "done"
            assert time.monotonic() - started < 5
            assert f"remote order {forwarded['uuid']} finished" in agent.log()
            assert b.federator_token not in agent.log()
        finally:
            b.close()
            assert agent.stop() == 0
