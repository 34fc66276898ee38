"""A SLURM periodic usage policy through the whole agent: Waldur's `resource_periodic_limits`
event over real RabbitMQ, the settings on the real cluster, the outcome back to the policy."""

from __future__ import annotations

import pytest

from tests.e2e.harness import Agent, offering_config, terminal, wait_for
from tests.slurm.conftest import COMPONENTS, settings
from tests.slurm.test_periodic import share_and_limits
from waldur_site_agent_actors.simulators.waldur import WaldurSimulator
from waldur_site_agent_actors.simulators.waldur.client import ConsumerClient

pytestmark = [pytest.mark.slurm, pytest.mark.rabbitmq]


def outcome(sim, policy):
    return next(iter(sim.objects("command_results", policy=policy)), None)


def test_policy_settings_reach_the_account_and_the_outcome_reaches_waldur(
    tmp_path, slurm, rabbitmq, run_id, cleanup
):
    with WaldurSimulator(broker=rabbitmq.broker, tick_interval=0) as sim:
        consumer = ConsumerClient(sim.api_url, sim.staff_token)
        summary = sim.summary()
        offering, project = summary["offerings"][0], summary["projects"][0]
        config = {
            **offering_config(sim, offering, tmp_path / "state"),
            "backend_type": "slurm",
            "backend_settings": settings(run_id, periodic_limits={"enabled": True}),
            "backend_components": COMPONENTS,
            **rabbitmq.offering_stomp,
        }
        cleanup.extend(config["backend_settings"][k] for k in ("customer_prefix", "project_prefix"))
        cleanup.append(config["backend_settings"]["allocation_prefix"])
        agent = Agent(tmp_path, [config]).start()
        try:
            order = consumer.order(offering["url"], project["url"], {"cpu": 100, "mem": 5})
            done = wait_for(lambda: terminal(consumer, order["uuid"]), what="create", log=agent.log)
            assert done["state"] == "done", done
            resource = consumer.resource(done["marketplace_resource_uuid"])
            account = resource["backend_id"]
            wait_for(lambda: "listening on" in agent.log(), what="the agent to listen")

            policy = sim.trigger_periodic_limits(
                resource["uuid"], {"fairshare": 333, "grp_tres_mins": {"cpu": 6000}}
            )
            result = wait_for(lambda: outcome(sim, policy), what="the outcome", log=agent.log)
            assert result["success"] is True, result
            assert any("fairshare=333" in c for c in result["commands_executed"]), result
            own = share_and_limits(slurm, account)
            assert own["fairshare"] == "333" and "cpu=6000" in own["GrpTRESMins"]

            refused = sim.trigger_periodic_limits(
                resource["uuid"], {"grp_tres_mins": {"cpu": "a lot"}}
            )
            result = wait_for(lambda: outcome(sim, refused), what="the refusal", log=agent.log)
            assert result["success"] is False and result["error_message"], result
            assert result["commands_executed"] == []
        finally:
            consumer.close()
            assert agent.stop() == 0
            rabbitmq.forget(sim)
