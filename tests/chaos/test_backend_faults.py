"""A backend that keeps failing one kind of command costs that command, not the offering."""

from __future__ import annotations

from tests.e2e.harness import Agent, DemoDb, offering_config, terminal, wait_for


def test_a_failing_usage_report_leaves_the_offering_running(tmp_path, sim, consumer, world):
    offering, projects = world
    config = offering_config(sim, offering, tmp_path / "state", fail_on=["usage"])
    agent = Agent(tmp_path, [config], report_period_minutes=0.005).start()
    try:
        # Dozens of failed report cycles: each used to kill the offering, five left it FAILED.
        wait_for(
            lambda: agent.log().count("usage not reported this cycle") >= 10,
            what="report cycles failing",
            log=agent.log,
        )
        order = consumer.order(offering["url"], projects[0]["url"], {"cpu": 1, "mem": 1})
        done = wait_for(lambda: terminal(consumer, order["uuid"]), what="order", log=agent.log)
        assert done["state"] == "done"
        status = agent.status()
        assert status.returncode == 0, status.stdout
        assert "RUNNING, restarts 0" in status.stdout
        assert "demo backend was told to fail on usage" in agent.log()
    finally:
        assert agent.stop() == 0


def test_commands_failing_half_way_leave_no_account_unknown_to_waldur(
    tmp_path, sim, consumer, world
):
    offering, projects = world
    db = DemoDb(tmp_path / "state" / "demo-hpc.sqlite")
    # Half of all commands fail, half of those after their change was made.
    config = offering_config(sim, offering, tmp_path / "state", fail_rate=0.5, fail_seed=7)
    agent = Agent(tmp_path, [config]).start()
    try:
        orders = [
            consumer.order(offering["url"], projects[i % 2]["url"], {"cpu": 1 + i, "mem": 1})
            for i in range(12)
        ]
        for order in orders:
            wait_for(lambda o=order: terminal(consumer, o["uuid"]), what="order", log=agent.log)
        resources = [r for r in sim.objects("resources") if r["state"] != "Terminated"]
        known = {r["backend_id"] for r in resources}
        assert db.accounts() <= known, "an account no Waldur resource knows"
        for r in resources:
            if r["state"] == "OK":
                assert r["backend_id"] in db.accounts()
                assert db.limits(r["backend_id"])["cpu"] == r["limits"]["cpu"] * 60000
        outcomes = {o for (o,) in db.query("SELECT outcome FROM journal")}
        assert {"failed", "done, timed out"} <= outcomes, "the faults did not happen"
    finally:
        assert agent.stop() == 0
