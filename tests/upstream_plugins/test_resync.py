"""Waldur's forced resync (`offering_resources_sync`, over a real RabbitMQ) reaches an upstream
plugin at upstream's point: before the membership sync, `recreate_missing_resource` for every
resource, so an account the backend lost comes back under its backend id."""

import json

import pytest

from tests.e2e.harness import Agent, terminal, wait_for
from tests.upstream_plugins.state import read_state
from waldur_site_agent_actors.agent.demo import COMPONENTS
from waldur_site_agent_actors.simulators.waldur import WaldurSimulator
from waldur_site_agent_actors.simulators.waldur.client import ConsumerClient

pytestmark = [pytest.mark.upstream, pytest.mark.rabbitmq]


def test_a_forced_resync_recreates_what_the_backend_lost(tmp_path, rabbitmq, python):
    with WaldurSimulator(broker=rabbitmq.broker, tick_interval=0) as sim:
        consumer = ConsumerClient(sim.api_url, sim.staff_token)
        offering, project = sim.summary()["offerings"][0], sim.summary()["projects"][0]
        state = tmp_path / "mycustom.json"
        config = {
            "name": "guide plugin",
            "waldur_api_url": sim.api_url,
            "waldur_api_token": sim.provider_token,
            "waldur_offering_uuid": offering["uuid"],
            "backend_type": "mycustom",
            "backend_settings": {"state_file": str(state), "allocation_prefix": "alloc_"},
            "backend_components": COMPONENTS,
            **rabbitmq.offering_stomp,
        }
        # Memberships are synced only when asked: what follows is the forced resync's work.
        agent = Agent(tmp_path, [config], membership_sync_period_minutes=60).start(python=python)
        try:
            wait_for(lambda: "listening on consumer_" in agent.log(), what="the agent to listen")
            order = consumer.order(offering["url"], project["url"], {"cpu": 1, "mem": 1})
            done = wait_for(lambda: terminal(consumer, order["uuid"]), 60, "create", agent.log)
            assert done["state"] == "done", done
            account = consumer.resource(done["marketplace_resource_uuid"])["backend_id"]
            lost = read_state(state)
            del lost["accounts"][account]
            state.write_text(json.dumps(lost))

            sim.request_offering_sync(offering["uuid"])
            wait_for(
                lambda: account in read_state(state)["accounts"],
                what="the lost account recreated",
                log=agent.log,
            )
        finally:
            consumer.close()
            assert agent.stop() == 0
            rabbitmq.forget(sim)
