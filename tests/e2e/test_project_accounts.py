"""A project's service and course accounts become associations of its resources, and go when
they are closed (upstream's `_sync_resource_service_accounts`/`_sync_resource_course_accounts`)."""

from tests.e2e.harness import Agent, DemoDb, offering_config, terminal, wait_for

TEAM = {"aandersen", "bberg"}


def open_account(consumer, collection, project, username):
    return consumer._call(
        "POST", f"{collection}/", {"project": project["url"], "username": username}
    )


def test_service_and_course_accounts_are_linked_until_closed(tmp_path, sim, consumer, world):
    offering, projects = world
    db = DemoDb(tmp_path / "state" / "demo-hpc.sqlite")
    agent = Agent(tmp_path, [offering_config(sim, offering, tmp_path / "state")]).start()
    try:
        order = consumer.order(offering["url"], projects[0]["url"], {"cpu": 5, "mem": 5})
        done = wait_for(lambda: terminal(consumer, order["uuid"]), what="create", log=agent.log)
        assert done["state"] == "done", done
        resource = consumer.resource(done["marketplace_resource_uuid"])
        account = resource["backend_id"]
        wait_for(lambda: db.members(account) == TEAM, what="the team linked", log=agent.log)

        service = open_account(
            consumer, "marketplace-project-service-accounts", projects[0], "svc-ci"
        )
        course = open_account(consumer, "marketplace-course-accounts", projects[0], "student-1")
        # Another project's account is not this project's resource's business.
        open_account(consumer, "marketplace-project-service-accounts", projects[1], "svc-other")
        wait_for(
            lambda: db.members(account) == TEAM | {"svc-ci", "student-1"},
            what="both accounts linked",
            log=agent.log,
        )

        # Restricting member access unlinks the members and adds none; the project's
        # accounts stay (as upstream).
        consumer._call(
            "POST",
            f"marketplace-resources/{resource['uuid']}/set_restrict_member_access/",
            {"restrict_member_access": True},
        )
        wait_for(
            lambda: db.members(account) == {"svc-ci", "student-1"},
            what="the members unlinked, the accounts kept",
            log=agent.log,
        )
        consumer.add_user(projects[0]["uuid"], consumer.user_uuid("carol"))
        consumer._call("DELETE", f"marketplace-project-service-accounts/{service['uuid']}/")
        wait_for(
            lambda: db.members(account) == {"student-1"},
            what="the closed service account unlinked",
            log=agent.log,
        )
        consumer._call("DELETE", f"marketplace-course-accounts/{course['uuid']}/")
        wait_for(
            lambda: db.members(account) == set(),
            what="the closed course account unlinked",
            log=agent.log,
        )
        assert "cclark" not in db.members(account), "restricted: carol is not added"
        consumer._call(
            "POST",
            f"marketplace-resources/{resource['uuid']}/set_restrict_member_access/",
            {"restrict_member_access": False},
        )
        wait_for(
            lambda: db.members(account) == TEAM | {"cclark"},
            what="the members linked again once access is no longer restricted",
            log=agent.log,
        )
    finally:
        assert agent.stop() == 0


def test_a_course_account_opened_on_a_restricted_resource_is_linked(tmp_path, sim, consumer, world):
    offering, projects = world
    db = DemoDb(tmp_path / "state" / "demo-hpc.sqlite")
    agent = Agent(tmp_path, [offering_config(sim, offering, tmp_path / "state")]).start()
    try:
        order = consumer.order(offering["url"], projects[1]["url"], {"cpu": 5, "mem": 5})
        done = wait_for(lambda: terminal(consumer, order["uuid"]), what="create", log=agent.log)
        assert done["state"] == "done", done
        resource = consumer.resource(done["marketplace_resource_uuid"])
        consumer._call(
            "POST",
            f"marketplace-resources/{resource['uuid']}/set_restrict_member_access/",
            {"restrict_member_access": True},
        )
        open_account(consumer, "marketplace-course-accounts", projects[1], "student-2")
        wait_for(
            lambda: "student-2" in db.members(resource["backend_id"]),
            what="the course account linked",
            log=agent.log,
        )
    finally:
        assert agent.stop() == 0
