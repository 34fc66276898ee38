"""membership_sync takes limits a site admin changed on the backend into Waldur (upstream's
`sync_resource_limits`), and sends nothing while they agree."""

import sqlite3

from tests.e2e.harness import Agent, offering_config, terminal, wait_for
from waldur_site_agent_actors.agent.cli import main

SET_LIMITS = "POST /api/marketplace-provider-resources/{uuid}/set_limits/"
SYNCED = "POST /api/marketplace-provider-resources/{uuid}/refresh_last_sync/"


def test_a_limit_changed_on_the_backend_reaches_waldur_and_an_unchanged_one_is_not_sent(
    tmp_path, sim, consumer, world
):
    offering, projects = world
    path = tmp_path / "state" / "demo-hpc.sqlite"
    agent = Agent(tmp_path, [offering_config(sim, offering, tmp_path / "state")]).start()

    def after_two_syncs():
        seen = sim.counts().get(SYNCED, 0)
        wait_for(lambda: sim.counts().get(SYNCED, 0) >= seen + 2, what="two syncs", log=agent.log)

    try:
        order = consumer.order(offering["url"], projects[0]["url"], {"cpu": 5, "mem": 5})
        done = wait_for(lambda: terminal(consumer, order["uuid"]), what="create", log=agent.log)
        assert done["state"] == "done", done
        resource = consumer.resource(done["marketplace_resource_uuid"])

        # Waldur holds 5 and the backend 300000 CPU-minutes (unit_factor 60000): no change.
        sent = sim.counts().get(SET_LIMITS, 0)
        after_two_syncs()
        assert sim.counts().get(SET_LIMITS, 0) == sent, agent.log()[-3000:]

        # The admin raises the CPU quota on the backend to 10 k-hours.
        with sqlite3.connect(path, timeout=10) as db:
            db.execute(
                "UPDATE limits SET value = 600000 WHERE account = ? AND component = 'cpu'",
                (resource["backend_id"],),
            )
        wait_for(
            lambda: consumer.resource(resource["uuid"])["limits"].get("cpu") == 10,
            what="Waldur to take the backend's CPU limit",
            log=agent.log,
        )
        assert consumer.resource(resource["uuid"])["limits"]["mem"] == 5
        assert "limits {'cpu': 10.0, 'mem': 5.0} from the backend" in agent.log()

        sent = sim.counts().get(SET_LIMITS, 0)
        after_two_syncs()
        assert sim.counts().get(SET_LIMITS, 0) == sent, "taken once, then in agreement"
    finally:
        assert agent.stop() == 0

    # The one-off tool applies the same rule: what changed is taken, then nothing is sent.
    with sqlite3.connect(path, timeout=10) as db:
        db.execute(
            "UPDATE limits SET value = 1200000 WHERE account = ? AND component = 'cpu'",
            (resource["backend_id"],),
        )
    assert main(["sync-resource-limits", "-c", str(agent.config)]) == 0
    assert consumer.resource(resource["uuid"])["limits"] == {"cpu": 20, "mem": 5}
    sent = sim.counts().get(SET_LIMITS, 0)
    assert main(["sync-resource-limits", "-c", str(agent.config)]) == 0
    assert sim.counts().get(SET_LIMITS, 0) == sent
