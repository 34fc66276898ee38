"""Keys that change what a terminate or a name does, on any backend: `soft_delete`, the
offering's `account_name_generation_policy: project_slug` and `enable_membership_sync_status`
(through the real service, the demo backend and the simulator)."""

from tests.e2e.harness import Agent, DemoDb, offering_config, terminal, wait_for


def set_plugin_options(sim, offering, **options):
    with sim.state.lock:
        stored = sim.state.get("offerings", offering["uuid"])
        stored["plugin_options"] = {**stored["plugin_options"], **options}
        sim.state.put("offerings", stored)
        sim.state.commit()


def done(consumer, order_uuid, agent, what):
    finished = wait_for(lambda: terminal(consumer, order_uuid), what=what, log=agent.log)
    assert finished["state"] == "done", finished
    return finished


def test_soft_delete_keeps_the_account_with_zero_limits_and_a_restore_brings_them_back(
    tmp_path, sim, consumer, world
):
    offering, projects = world
    db = DemoDb(tmp_path / "state" / "demo-hpc.sqlite")
    config = offering_config(sim, offering, tmp_path / "state", soft_delete=True)
    agent = Agent(tmp_path, [config]).start()
    try:
        order = consumer.order(offering["url"], projects[0]["url"], {"cpu": 4, "mem": 2})
        resource = consumer.resource(
            done(consumer, order["uuid"], agent, "create")["marketplace_resource_uuid"]
        )
        account = resource["backend_id"]
        assert db.limits(account) == {"cpu": 4 * 60000, "mem": 2 * 61440}

        done(consumer, consumer.terminate(resource["uuid"]), agent, "terminate")
        assert consumer.resource(resource["uuid"])["state"] == "Terminated"
        assert account in db.accounts(), "soft delete removed the account"
        assert db.limits(account) == {"cpu": 0, "mem": 0, "gpu": 0}  # every component

        answer = consumer._call("POST", f"marketplace-resources/{resource['uuid']}/restore/", {})
        done(consumer, answer["order_uuid"], agent, "restore")
        assert consumer.resource(resource["uuid"])["backend_id"] == account
        restored = db.limits(account)
        assert (restored["cpu"], restored["mem"]) == (4 * 60000, 2 * 61440)
        assert "already exists on the backend" in agent.log()
    finally:
        assert agent.stop() == 0


def test_accounts_named_after_the_project_slug_are_numbered_from_zero(
    tmp_path, sim, consumer, world
):
    offering, projects = world
    set_plugin_options(sim, offering, account_name_generation_policy="project_slug")
    db = DemoDb(tmp_path / "state" / "demo-hpc.sqlite")
    agent = Agent(tmp_path, [offering_config(sim, offering, tmp_path / "state")]).start()
    try:
        names = []
        for _ in range(3):
            order = consumer.order(offering["url"], projects[0]["url"], {"cpu": 1, "mem": 1})
            finished = done(consumer, order["uuid"], agent, "create")
            names.append(consumer.resource(finished["marketplace_resource_uuid"])["backend_id"])
        slug = consumer._call("GET", f"projects/{projects[0]['uuid']}/")["slug"].lower()
        assert names == [f"demo_{slug}", f"demo_{slug}-0", f"demo_{slug}-1"]
        assert set(names) <= db.accounts()
    finally:
        assert agent.stop() == 0


def test_membership_sync_status_shows_in_waldur_which_grants_landed(tmp_path, sim, consumer, world):
    offering, projects = world
    set_plugin_options(sim, offering, enable_membership_sync_status=True)
    db = DemoDb(tmp_path / "state" / "demo-hpc.sqlite")
    agent = Agent(tmp_path, [offering_config(sim, offering, tmp_path / "state")]).start()
    try:
        order = consumer.order(offering["url"], projects[0]["url"], {"cpu": 1, "mem": 1})
        uuid = done(consumer, order["uuid"], agent, "create")["marketplace_resource_uuid"]
        account = consumer.resource(uuid)["backend_id"]

        def statuses():
            (stored,) = sim.objects("resources", uuid=uuid)
            return {s["username"]: s for s in stored.get("membership_sync_statuses", [])}

        reported = wait_for(
            lambda: (s := statuses()) and set(s) == db.members(account) and s,
            what="the statuses of the linked members",
            log=agent.log,
        )
        assert {s["state"] for s in reported.values()} == {"synced"}
        assert {s["scope_type"] for s in reported.values()} == {"resource"}
        team = {
            m["username"]: m
            for m in consumer._call("GET", f"marketplace-provider-resources/{uuid}/team/")
        }
        for status in reported.values():
            member = next(
                m for m in team.values() if m["offering_user_username"] == status["username"]
            )
            assert (status["role_name"], status["user_uuid"]) == (member["role"], member["uuid"])
    finally:
        assert agent.stop() == 0
