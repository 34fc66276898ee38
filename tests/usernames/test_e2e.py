"""Usernames through the whole agent: a real `waldur-site-agent run` process names the offering
users in the Waldur simulator, and the demo backend links them under those names."""

from tests.e2e.harness import Agent, DemoDb, offering_config, terminal, wait_for

LINKING = "Pending account linking"


def test_usernames_generated_unique_stored_linked_and_repaired(tmp_path, sim, consumer, waldur):
    db = DemoDb(tmp_path / "state" / "demo-hpc.sqlite")
    agent = Agent(tmp_path, [offering_config(sim, waldur.offering, tmp_path / "state")]).start()
    try:
        # The `waldur` fixture ordered a resource for the project; the agent creates it.
        order = consumer._call("GET", "marketplace-orders/")[0]
        done = wait_for(lambda: terminal(consumer, order["uuid"]), what="create", log=agent.log)
        assert done["state"] == "done", done
        account = consumer.resource(done["marketplace_resource_uuid"])["backend_id"]

        expected = {
            "alice": ("aandersen", "OK"),
            "bob": ("bberg", "OK"),
            "anna": ("aandersen2", "OK"),
            "8172634": (None, LINKING),
        }
        wait_for(lambda: waldur.names() == expected, what="names by rule", log=agent.log)
        assert sorted(waldur.calls("begin_creating")) == ["8172634", "alice", "anna", "bob"]
        wait_for(
            lambda: db.members(account) == {"aandersen", "aandersen2", "bberg"},
            what="named users linked, the one pending linking not",
            log=agent.log,
        )

        # Lei's profile now has a name in Latin script: linking is no longer needed.
        waldur.set_full_name("8172634", "Lei Li")
        wait_for(lambda: waldur.names()["8172634"] == ("lli", "OK"), what="lli", log=agent.log)
        assert waldur.calls("set_validation_complete") == ["8172634"]
        wait_for(lambda: "lli" in db.members(account), what="lli linked", log=agent.log)

        # A username cleared in Waldur: the next reconciliation gives one back.
        waldur.act("bob", "PATCH", {"username": ""})
        wait_for(
            lambda: waldur.names()["bob"] == ("bberg", "OK"), what="bob renamed", log=agent.log
        )
        bob = waldur.users()["bob"]["uuid"]
        patches = [r for r in sim.requests() if r["method"] == "PATCH" and bob in r["path"]]
        assert len(patches) == 3, "named by the agent, cleared by staff, named again"
        wait_for(
            lambda: db.members(account) == {"aandersen", "aandersen2", "bberg", "lli"},
            what="everyone linked",
            log=agent.log,
        )
    finally:
        assert agent.stop() == 0
