"""Bad input never spreads: names that fold into one account name, accounts that are someone
else's, backend ids Waldur has seen before, and orders the agent cannot read."""

from __future__ import annotations

import copy

import pytest

from tests.chaos.hostile import COLLIDING_NAMES, POISON_CPU, POISON_REWRITE, one_slug
from tests.e2e.harness import Agent, DemoDb, offering_config, terminal, wait_for
from waldur_site_agent_actors.backends.demo.store import Store
from waldur_site_agent_actors.simulators.waldur import WaldurSimulator
from waldur_site_agent_actors.simulators.waldur.client import ConsumerClient
from waldur_site_agent_actors.simulators.waldur.seed import default_scenario

LIMITS = {"cpu": 1, "mem": 1}


def owner(resource_uuid: str) -> str:
    return f"waldur-resource-{resource_uuid}"


def test_colliding_names_never_share_an_account(tmp_path, sim, consumer, world):
    offering, projects = world
    db = DemoDb(tmp_path / "state" / "demo-hpc.sqlite")
    families = {
        family: [
            consumer.order(offering["url"], projects[0]["url"], LIMITS, name=name) for name in names
        ]
        for family, names in COLLIDING_NAMES.items()
    }
    for orders in families.values():
        one_slug(sim, [o["marketplace_resource_uuid"] for o in orders])
    agent = Agent(tmp_path, [offering_config(sim, offering, tmp_path / "state")]).start()
    try:
        accounts: dict[str, list[str]] = {}
        for family, orders in families.items():
            for order in orders:
                done = wait_for(lambda o=order: terminal(consumer, o["uuid"]), log=agent.log)
                assert done["state"] == "done", done["error_message"]
                resource = consumer.resource(order["marketplace_resource_uuid"])
                accounts.setdefault(family, []).append(resource["backend_id"])
        every = [a for names in accounts.values() for a in names]
        assert len(set(every)) == len(every), accounts
        assert set(every) == db.accounts()
        # Orders of different resources run in parallel lanes: which one gets the suffix is
        # whichever reaches the backend second.
        assert sorted(accounts["shell"]) == ["demo_touch-x", "demo_touch-x-2"]
        # Each account records the resource it was made for.
        for orders in families.values():
            for order in orders:
                resource = consumer.resource(order["marketplace_resource_uuid"])
                rows = db.query(
                    "SELECT organization FROM accounts WHERE name = ?", resource["backend_id"]
                )
                assert rows == [(owner(resource["uuid"]),)], (resource["backend_id"], rows)

        # Terminating one resource of each family leaves its namesakes their accounts.
        for orders in families.values():
            gone = orders[0]["marketplace_resource_uuid"]
            terminate = consumer.terminate(gone)
            done = wait_for(lambda t=terminate: terminal(consumer, t), log=agent.log)
            assert done["state"] == "done", done["error_message"]
        left = db.accounts()
        for family, names in accounts.items():
            assert names[0] not in left, family
            assert set(names[1:]) <= left, (family, names, left)
        for orders in families.values():
            for order in orders[1:]:
                assert consumer.resource(order["marketplace_resource_uuid"])["state"] == "OK"
    finally:
        assert agent.stop() == 0


def test_an_account_that_is_not_the_resources_is_neither_adopted_nor_deleted(
    tmp_path, sim, consumer, world
):
    offering, projects = world
    path = tmp_path / "state" / "demo-hpc.sqlite"
    # Made by hand before the agent came: the name the resource would get, but no owner record.
    Store(path).add_account("demo_climate", "made by an operator", "", "")
    order = consumer.order(offering["url"], projects[0]["url"], LIMITS, name="climate")
    agent = Agent(tmp_path, [offering_config(sim, offering, tmp_path / "state")]).start()
    try:
        done = wait_for(lambda: terminal(consumer, order["uuid"]), log=agent.log)
        assert done["state"] == "done", done["error_message"]
        resource = consumer.resource(order["marketplace_resource_uuid"])
        assert resource["backend_id"] == "demo_climate-2"
        terminate = consumer.terminate(resource["uuid"])
        assert wait_for(lambda: terminal(consumer, terminate), log=agent.log)["state"] == "done"
        db = DemoDb(path)
        assert db.accounts() == {"demo_climate"}
        assert db.query("SELECT description FROM accounts") == [("made by an operator",)]
        assert "demo_climate on the backend is recorded as no resource's" in agent.log()
    finally:
        assert agent.stop() == 0


def test_names_run_out_after_backend_id_max_retries(tmp_path, sim, consumer, world):
    offering, projects = world
    path = tmp_path / "state" / "demo-hpc.sqlite"
    for name in ("demo_climate", "demo_climate-2"):
        Store(path).add_account(name, "made by an operator", "", "")
    order = consumer.order(offering["url"], projects[0]["url"], LIMITS, name="climate")
    config = offering_config(sim, offering, tmp_path / "state", backend_id_max_retries=2)
    agent = Agent(tmp_path, [config]).start()
    try:
        erred = wait_for(lambda: terminal(consumer, order["uuid"]), log=agent.log)
        assert erred["state"] == "erred", erred["state"]
        assert "no backend id left" in erred["error_message"]
        assert "backend_id_max_retries" in erred["error_message"]
        assert DemoDb(path).accounts() == {"demo_climate", "demo_climate-2"}
    finally:
        assert agent.stop() == 0


def two_offerings_one_with_history():
    """A second offering of the same provider whose resource holds `demo_climate` in Waldur,
    though no backend of the first offering has such an account."""
    scenario = default_scenario()
    second = copy.deepcopy(scenario["offerings"][0])
    second["name"] = "Older cluster"
    second["plans"][0]["name"] = "Older default"
    scenario["offerings"].append(second)
    scenario["resources"] = [
        {
            "name": "an allocation of 2019",
            "offering": "Older cluster",
            "project": "Climate modelling",
            "backend_id": "demo_climate",
        }
    ]
    return scenario


@pytest.mark.parametrize("everywhere", [True, False], ids=["all-offerings", "this-offering"])
def test_a_backend_id_waldur_has_seen_is_skipped(tmp_path, everywhere):
    """With `check_all_offerings`, a name another offering's resource held is skipped; without,
    only this offering's history counts, and that name is free."""
    with WaldurSimulator(seed=two_offerings_one_with_history(), tick_interval=0) as sim:
        summary = sim.summary()
        offering, project = summary["offerings"][0], summary["projects"][0]
        consumer = ConsumerClient(sim.api_url, sim.staff_token)
        order = consumer.order(offering["url"], project["url"], LIMITS, name="climate")
        config = offering_config(
            sim,
            offering,
            tmp_path / "state",
            check_backend_id_uniqueness=True,
            check_all_offerings=everywhere,
        )
        agent = Agent(tmp_path, [config]).start()
        try:
            done = wait_for(lambda: terminal(consumer, order["uuid"]), log=agent.log)
            assert done["state"] == "done", done["error_message"]
            resource = consumer.resource(order["marketplace_resource_uuid"])
            name = "demo_climate-2" if everywhere else "demo_climate"
            assert resource["backend_id"] == name
            assert DemoDb(tmp_path / "state" / "demo-hpc.sqlite").accounts() == {name}
            checks = [
                r for r in sim.requests() if r["endpoint"].endswith("/check_unique_backend_id/")
            ]
            # all offerings: demo_climate (used), demo_climate-2 (free); this one: demo_climate
            assert len(checks) == (2 if everywhere else 1)
        finally:
            consumer.close()
            assert agent.stop() == 0


def test_a_poison_order_fails_alone(tmp_path, sim, consumer, world):
    offering, projects = world
    # A server that answers what is not quite JSON: this order's limit arrives as a bare NaN,
    # and another order's resource has one wherever the resource is read.
    sim.add_fault(rewrite=POISON_REWRITE)
    for endpoint in (
        "/api/marketplace-provider-resources/",
        "/api/marketplace-provider-resources/{uuid}/",
    ):
        sim.add_fault(endpoint=f"GET {endpoint}", rewrite={'"mem": 9}': '"mem": NaN}'})
    place = consumer.order
    good = place(offering["url"], projects[0]["url"], {"cpu": 1, "mem": 1}, name="good one")
    poison = place(offering["url"], projects[0]["url"], {"cpu": POISON_CPU, "mem": 1})
    bad_resource = place(offering["url"], projects[1]["url"], {"cpu": 3, "mem": 9})
    later = place(offering["url"], projects[1]["url"], {"cpu": 2, "mem": 1}, name="good two")
    agent = Agent(tmp_path, [offering_config(sim, offering, tmp_path / "state")]).start()
    try:
        for order in (good, later):
            done = wait_for(lambda o=order: terminal(consumer, o["uuid"]), log=agent.log)
            assert done["state"] == "done", done["error_message"]
        erred = wait_for(lambda: terminal(consumer, bad_resource["uuid"]), log=agent.log)
        assert erred["state"] == "erred", erred["state"]
        assert "limits.mem is nan, not a finite number" in erred["error_message"]

        # Waldur keeps a pending order pending: it carries the reason, and the sweeps go on.
        sweeps = sim.counts().get("GET /api/marketplace-orders/", 0)
        wait_for(
            lambda: sim.counts().get("GET /api/marketplace-orders/", 0) >= sweeps + 3,
            what="three more sweeps",
            log=agent.log,
        )
        kept = consumer.order_details(poison["uuid"])
        assert kept["state"] == "pending-provider"
        assert "The site agent cannot read this order" in kept["error_message"]
        assert "limits.cpu is nan" in kept["error_message"]
        assert agent.log().count(f"order {poison['uuid']} cannot be read") == 1
        wait_for(
            lambda: (s := agent.status()).returncode == 0 and "RUNNING" in s.stdout,
            what="the offering RUNNING in status (the status file is written a moment after start)",
            log=agent.log,
        )
    finally:
        assert agent.stop() == 0
    assert " died" not in agent.log() and "Traceback" not in agent.log()
