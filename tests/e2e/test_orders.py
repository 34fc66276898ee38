"""order_process through the real service: every order type and outcome, and restarts."""

import signal

from tests.e2e.harness import Agent, DemoDb, offering_config, terminal, wait_for
from waldur_site_agent_actors.actors.lanes import LANES


def test_create_update_terminate_reach_done(tmp_path, sim, consumer, world):
    offering, projects = world
    db = DemoDb(tmp_path / "state" / "demo-hpc.sqlite")
    agent = Agent(tmp_path, [offering_config(sim, offering, tmp_path / "state")]).start()
    try:
        order = consumer.order(
            offering["url"], projects[0]["url"], {"cpu": 10, "mem": 20}, name="climate run"
        )
        done = wait_for(lambda: terminal(consumer, order["uuid"]), what="create", log=agent.log)
        assert done["state"] == "done", done
        resource = consumer.resource(done["marketplace_resource_uuid"])
        assert resource["state"] == "OK"
        account = resource["backend_id"]
        assert account in db.accounts()
        assert db.limits(account) == {"cpu": 10 * 60000, "mem": 20 * 61440}

        update = consumer.update_limits(resource["uuid"], {"cpu": 30, "mem": 20})
        assert wait_for(lambda: terminal(consumer, update), what="update")["state"] == "done"
        assert db.limits(account)["cpu"] == 30 * 60000
        assert consumer.resource(resource["uuid"])["limits"]["cpu"] == 30

        terminate = consumer.terminate(resource["uuid"])
        assert wait_for(lambda: terminal(consumer, terminate), what="terminate")["state"] == "done"
        assert account not in db.accounts()
        assert consumer.resource(resource["uuid"])["state"] == "Terminated"
    finally:
        assert agent.stop() == 0


def test_backend_failure_errs_the_order_with_the_message(tmp_path, sim, consumer, world):
    offering, projects = world
    config = offering_config(sim, offering, tmp_path / "state", fail_on=["create"])
    agent = Agent(tmp_path, [config]).start()
    try:
        order = consumer.order(offering["url"], projects[0]["url"], {"cpu": 1, "mem": 1})
        erred = wait_for(lambda: terminal(consumer, order["uuid"]), what="erred", log=agent.log)
        assert erred["state"] == "erred"
        assert "demo backend was told to fail on create" in erred["error_message"]
    finally:
        assert agent.stop() == 0


def test_non_blocking_order_is_pending_then_done(tmp_path, sim, consumer, world):
    offering, projects = world
    config = offering_config(sim, offering, tmp_path / "state", pending_seconds=2)
    agent = Agent(tmp_path, [config]).start()
    try:
        order = consumer.order(offering["url"], projects[1]["url"], {"cpu": 1, "mem": 1})
        waiting = wait_for(
            lambda: (o := consumer.order_details(order["uuid"]))["backend_id"] and o,
            what="the backend order id on the Waldur order",
            log=agent.log,
        )
        assert waiting["state"] == "executing"
        assert waiting["backend_id"].startswith("demo-order-")
        done = wait_for(lambda: terminal(consumer, order["uuid"]), what="done", log=agent.log)
        assert done["state"] == "done"
    finally:
        assert agent.stop() == 0


def test_killed_mid_batch_then_restarted_creates_nothing_twice(tmp_path, sim, consumer, world):
    offering, projects = world
    db = DemoDb(tmp_path / "state" / "demo-hpc.sqlite")
    # Slow Waldur down so the kill lands in the middle of the batch: LANES orders go at once,
    # each holding its lane 0.3 s, so three times as many take several rounds.
    sim.add_fault(endpoint="POST /api/marketplace-orders/{uuid}/set_state_done/", latency=0.3)
    count = 3 * LANES
    orders = [
        consumer.order(
            offering["url"], projects[i % 2]["url"], {"cpu": 1, "mem": 1}, name=f"batch {i}"
        )["uuid"]
        for i in range(count)
    ]
    agent = Agent(tmp_path, [offering_config(sim, offering, tmp_path / "state")]).start()
    wait_for(lambda: len(db.accounts()) >= 3, what="the batch to start", log=agent.log)
    assert agent.stop(signal.SIGKILL) == -signal.SIGKILL
    assert len(db.accounts()) < count, "the batch finished before the kill: nothing was tested"
    sim.clear_faults()
    agent.start()
    try:
        finished = wait_for(
            lambda: (
                all(terminal(consumer, o) for o in orders)
                and [terminal(consumer, o) for o in orders]
            ),
            what="all orders",
            log=agent.log,
            timeout=60,
        )
        assert {o["state"] for o in finished} == {"done"}
        backend_ids = [
            consumer.resource(o["marketplace_resource_uuid"])["backend_id"] for o in finished
        ]
        assert len(set(backend_ids)) == count
        assert db.accounts() == set(backend_ids)
    finally:
        assert agent.stop() == 0


def test_a_hung_call_holds_up_only_its_own_order(tmp_path, sim, consumer, world):
    """Orders of different resources go in lanes of their own: the first approve hanging
    10 s (no answer, then a dropped connection) leaves the other orders to finish meanwhile."""
    offering, projects = world
    sim.add_fault(
        endpoint="POST /api/marketplace-orders/{uuid}/approve_by_provider/", hang=10, times=1
    )
    orders = [
        consumer.order(
            offering["url"], projects[i % 2]["url"], {"cpu": 1, "mem": 1}, name=f"lane {i}"
        )["uuid"]
        for i in range(6)
    ]
    agent = Agent(tmp_path, [offering_config(sim, offering, tmp_path / "state")]).start()
    try:
        wait_for(
            lambda: sum(terminal(consumer, o) is not None for o in orders) >= 5,
            what="the orders besides the hung one",
            log=agent.log,
        )
        waiting = [o for o in orders if terminal(consumer, o) is None]
        assert len(waiting) == 1, "no order was held by the hung call: nothing was tested"
        finished = wait_for(lambda: terminal(consumer, waiting[0]), what="the hung order")
        assert finished["state"] == "done", finished
    finally:
        assert agent.stop() == 0
