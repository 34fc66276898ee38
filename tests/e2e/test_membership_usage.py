"""membership_sync and report through the real service, checked on both sides."""

import sqlite3
import time

import pytest

from tests.e2e.harness import Agent, DemoDb, offering_config, terminal, wait_for
from waldur_site_agent_actors.backends.demo.client import current_month


def created_account(consumer, offering, project, agent):
    order = consumer.order(offering["url"], project["url"], {"cpu": 5, "mem": 5})
    done = wait_for(lambda: terminal(consumer, order["uuid"]), what="create", log=agent.log)
    assert done["state"] == "done", done
    return consumer.resource(done["marketplace_resource_uuid"])


def test_team_changes_become_associations(tmp_path, sim, consumer, world):
    offering, projects = world
    db = DemoDb(tmp_path / "state" / "demo-hpc.sqlite")
    agent = Agent(tmp_path, [offering_config(sim, offering, tmp_path / "state")]).start()
    try:
        resource = created_account(consumer, offering, projects[0], agent)
        account = resource["backend_id"]
        wait_for(
            lambda: db.members(account) == {"aandersen", "bberg"},
            what="alice and bob linked",
            log=agent.log,
        )

        consumer.add_user(projects[0]["uuid"], consumer.user_uuid("carol"))
        consumer.remove_user(projects[0]["uuid"], consumer.user_uuid("bob"))
        wait_for(
            lambda: db.members(account) == {"aandersen", "cclark"},
            what="carol in, bob out",
            log=agent.log,
        )
        names = {u["username"] for u in consumer._call("GET", "marketplace-offering-users/")}
        assert "cclark" in names
    finally:
        assert agent.stop() == 0


def test_pause_downscale_restore_switch_the_backend_state(tmp_path, sim, consumer, world):
    offering, projects = world
    db = DemoDb(tmp_path / "state" / "demo-hpc.sqlite")
    agent = Agent(tmp_path, [offering_config(sim, offering, tmp_path / "state")]).start()

    def flag(name, value):
        consumer._call(
            "POST", f"marketplace-resources/{resource['uuid']}/set_{name}/", {name: value}
        )

    try:
        resource = created_account(consumer, offering, projects[1], agent)
        account = resource["backend_id"]
        flag("paused", True)
        wait_for(lambda: db.state(account) == "paused", what="paused", log=agent.log)
        wait_for(
            lambda: consumer.resource(resource["uuid"])["backend_metadata"] == {"state": "paused"},
            what="metadata in Waldur",
            log=agent.log,
        )
        flag("paused", False)
        flag("downscaled", True)
        wait_for(lambda: db.state(account) == "downscaled", what="downscaled", log=agent.log)
        flag("downscaled", False)
        wait_for(lambda: db.state(account) == "active", what="restored", log=agent.log)
    finally:
        assert agent.stop() == 0


def usages(consumer, resource_uuid):
    rows = consumer._call("GET", "marketplace-component-usages/", resource_uuid=resource_uuid)
    return {row["type"]: float(row["usage"]) for row in rows}


def user_usages(consumer, resource_uuid):
    rows = consumer._call("GET", "marketplace-component-user-usages/", resource_uuid=resource_uuid)
    return {(row["username"], row["component_type"]): float(row["usage"]) for row in rows}


def test_usage_reaches_waldur_in_waldur_units_and_never_decreases(tmp_path, sim, consumer, world):
    offering, projects = world
    db = DemoDb(tmp_path / "state" / "demo-hpc.sqlite")
    config = offering_config(sim, offering, tmp_path / "state", usage_per_second=600)
    agent = Agent(tmp_path, [config]).start()
    try:
        resource = created_account(consumer, offering, projects[0], agent)
        account = resource["backend_id"]
        first = wait_for(
            lambda: (
                usages(consumer, resource["uuid"]).get("gpu", 0) > 0
                and usages(consumer, resource["uuid"])
            ),
            what="gpu usage",
            log=agent.log,
        )
        raw = sum(
            r[0]
            for r in db.query(
                "SELECT amount FROM usage WHERE account = ? AND component = 'gpu'", account
            )
        )
        # 600 GPU-minutes per second per user; unit_factor 60: Waldur sees GPU-hours.
        assert 0 < first["gpu"] <= raw / 60 + 1
        assert first.get("cpu", 0) == 0 and first.get("mem", 0) == 0, "the demo meters only gpu"
        per_user = wait_for(
            lambda: user_usages(consumer, resource["uuid"]), what="per-user usage", log=agent.log
        )
        assert {user for user, _ in per_user} <= {"aandersen", "bberg"}
        later = wait_for(
            lambda: (u := usages(consumer, resource["uuid"]))["gpu"] > first["gpu"] and u,
            what="usage to grow",
            log=agent.log,
        )
        assert later["gpu"] >= first["gpu"]
    finally:
        assert agent.stop() == 0


SET_USER_USAGES = "POST /api/marketplace-component-usages/{uuid}/set_user_usages/"


def test_per_user_usage_that_failed_is_sent_again_though_the_totals_did_not_change(
    tmp_path, sim, consumer, world
):
    offering, projects = world
    config = offering_config(sim, offering, tmp_path / "state", usage_per_second=0)
    sim.faults.add(endpoint=SET_USER_USAGES, error_rate=1.0, status=503)
    agent = Agent(tmp_path, [config]).start()
    try:
        resource = created_account(consumer, offering, projects[0], agent)
        rows = [("aandersen", 120.0), ("bberg", 60.0)]  # GPU-minutes; Waldur counts GPU-hours
        with sqlite3.connect(tmp_path / "state" / "demo-hpc.sqlite") as db:
            db.executemany(
                "INSERT OR REPLACE INTO usage VALUES (?, ?, 'gpu', ?, ?, ?)",
                [(resource["backend_id"], u, current_month(), a, time.time()) for u, a in rows],
            )
        wait_for(
            lambda: usages(consumer, resource["uuid"]).get("gpu") == 3,
            what="the total",
            log=agent.log,
        )
        wait_for(lambda: "per-user usage of" in agent.log(), what="the failure", log=agent.log)
        assert user_usages(consumer, resource["uuid"]) == {}

        sim.faults.clear()
        per_user = wait_for(
            lambda: {k: v for k, v in user_usages(consumer, resource["uuid"]).items() if v},
            what="per-user usage",
            log=agent.log,
        )
        assert per_user == {("aandersen", "gpu"): 2, ("bberg", "gpu"): 1}
        assert usages(consumer, resource["uuid"])["gpu"] == 3
    finally:
        assert agent.stop() == 0


def months_back(count):
    """`YYYY-MM` of this month and the `count` before it, newest first."""
    year, month = map(int, current_month().split("-"))
    found = []
    for _ in range(count + 1):
        found.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return found


def test_the_last_reporting_periods_months_are_reported_again_each_cycle(
    tmp_path, sim, consumer, world
):
    offering, projects = world
    path = tmp_path / "state" / "demo-hpc.sqlite"
    config = offering_config(sim, offering, tmp_path / "state")
    # Waldur takes past months of usage-billed components from staff only.
    config["waldur_api_token"] = sim.staff_token
    agent = Agent(tmp_path, [config], reporting_periods=3).start()
    try:
        resource = created_account(consumer, offering, projects[0], agent)
        now, previous, before, too_old = months_back(3)

        def backend_counts(month, gpu_minutes):
            # What the backend's accounting shows for a past month (a late job record, say).
            with sqlite3.connect(path, timeout=10) as db:
                db.execute(
                    "INSERT OR REPLACE INTO usage VALUES (?, 'aandersen', 'gpu', ?, ?, ?)",
                    (resource["backend_id"], month, gpu_minutes, time.time()),
                )

        for month in (previous, before, too_old):
            backend_counts(month, 600)

        def by_month():
            rows = consumer._call(
                "GET", "marketplace-component-usages/", resource_uuid=resource["uuid"]
            )
            return {r["billing_period"][:7]: float(r["usage"]) for r in rows if r["type"] == "gpu"}

        # The months go out one after another: wait for the current one too.
        reported = wait_for(
            lambda: (
                (m := by_month()).get(previous) == 10 and m.get(before) == 10 and now in m and m
            ),
            what="the current and the two past months in Waldur",
            log=agent.log,
        )
        assert too_old not in reported, reported
        backend_counts(previous, 1200)  # the month's figure grew after it ended: sent again
        wait_for(lambda: by_month().get(previous) == 20, what="the grown figure", log=agent.log)
        assert too_old not in by_month()
    finally:
        assert agent.stop() == 0


def test_a_past_month_waldur_takes_from_staff_only_is_skipped_quietly(
    tmp_path, sim, consumer, world
):
    offering, projects = world
    path = tmp_path / "state" / "demo-hpc.sqlite"
    agent = Agent(tmp_path, [offering_config(sim, offering, tmp_path / "state")]).start()
    try:
        resource = created_account(consumer, offering, projects[0], agent)
        _, previous = months_back(1)
        with sqlite3.connect(path, timeout=10) as db:
            db.execute(
                "INSERT OR REPLACE INTO usage VALUES (?, 'aandersen', 'gpu', ?, 600, ?)",
                (resource["backend_id"], previous, time.time()),
            )
        wait_for(
            lambda: f"Waldur takes no usage for {previous}-01 from this token" in agent.log(),
            what="the refusal noted",
            log=agent.log,
        )
        assert "not sent" not in agent.log()
    finally:
        assert agent.stop() == 0


@pytest.mark.parametrize("omit", [True, False], ids=["omitted", "refused"])
def test_a_component_whose_usage_went_down_is_omitted_or_stops_the_whole_report(
    tmp_path, sim, consumer, world, omit
):
    """`omit_anomalous_usage_components`: a total lower than Waldur's is never sent; on, the
    other components are reported all the same; off (upstream's default), nothing is."""
    offering, projects = world
    config = offering_config(sim, offering, tmp_path / "state", usage_per_second=0)
    config["omit_anomalous_usage_components"] = omit
    agent = Agent(tmp_path, [config]).start()
    try:
        resource = created_account(consumer, offering, projects[0], agent)

        def backend_counts(gpu_minutes, cpu_minutes):
            # Both in one transaction: no report may see one without the other.
            rows = [("gpu", gpu_minutes), ("cpu", cpu_minutes)]
            with sqlite3.connect(tmp_path / "state" / "demo-hpc.sqlite", timeout=10) as db:
                db.executemany(
                    "INSERT OR REPLACE INTO usage VALUES (?, 'aandersen', ?, ?, ?, ?)",
                    [(resource["backend_id"], c, current_month(), a, time.time()) for c, a in rows],
                )

        backend_counts(gpu_minutes=600, cpu_minutes=600_000)  # 10 GPU-hours, 10 k-CPU-hours
        wait_for(
            lambda: usages(consumer, resource["uuid"]) == {"gpu": 10, "cpu": 10},
            what="the first totals",
            log=agent.log,
        )
        backend_counts(gpu_minutes=300, cpu_minutes=1_200_000)  # GPU down to 5, CPU up to 20
        if omit:
            # The per-user usages go after the totals, in the same cycle.
            wait_for(
                lambda: user_usages(consumer, resource["uuid"])[("aandersen", "cpu")] == 20,
                what="the CPU usage that grew",
                log=agent.log,
            )
            assert "went down for gpu; the other components reported" in agent.log()
        else:
            wait_for(
                lambda: "went down for gpu; not reported" in agent.log(),
                what="the report refused",
                log=agent.log,
            )
        cpu = 20 if omit else 10
        assert usages(consumer, resource["uuid"]) == {"gpu": 10, "cpu": cpu}
        per_user = user_usages(consumer, resource["uuid"])
        assert (per_user[("aandersen", "gpu")], per_user[("aandersen", "cpu")]) == (10, cpu)
    finally:
        assert agent.stop() == 0
