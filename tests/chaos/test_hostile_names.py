"""Resource and user names meant to break commands: they reach the backend as data or not at all.

Two offerings: one where the agent makes usernames (`service_provider`: names are folded to
`[a-z0-9_-]`), one where Waldur's usernames are used as they are (`waldur_username`: a hostile
one is refused before any command with a log line saying why, and its team mates are linked).
"""

from __future__ import annotations

import copy
import re

from tests.chaos.hostile import HOSTILE_NAMES
from tests.e2e.harness import Agent, DemoDb, offering_config, terminal, wait_for
from waldur_site_agent_actors.simulators.waldur import WaldurSimulator
from waldur_site_agent_actors.simulators.waldur.client import ConsumerClient
from waldur_site_agent_actors.simulators.waldur.seed import default_scenario

SAFE_USERNAME = re.compile(r"[a-z][a-z0-9_-]*")


def two_policies():
    scenario = default_scenario()
    second = copy.deepcopy(scenario["offerings"][0])
    second["name"] = "Waldur usernames"
    second["plans"][0]["name"] = "Waldur usernames default"
    second["plugin_options"]["username_generation_policy"] = "waldur_username"
    scenario["offerings"].append(second)
    return scenario


def test_hostile_names_are_data_or_refused(tmp_path):
    with WaldurSimulator(seed=two_policies(), tick_interval=0) as sim:
        summary = sim.summary()
        generated, verbatim = summary["offerings"]
        project = summary["projects"][0]
        state = tmp_path / "state"
        dbs = [DemoDb(state / "demo-generated.sqlite"), DemoDb(state / "demo-verbatim.sqlite")]
        agent = Agent(
            tmp_path,
            [
                offering_config(sim, generated, state, name="generated"),
                offering_config(sim, verbatim, state, name="verbatim"),
            ],
        ).start()
        consumer = ConsumerClient(sim.api_url, sim.staff_token)
        try:
            for number, name in enumerate(HOSTILE_NAMES):
                user = consumer._call(
                    "POST",
                    "users/",
                    {"username": name, "full_name": f"{name} {name}", "email": f"u{number}@x.org"},
                )
                consumer.add_user(project["uuid"], user["uuid"])
            orders = [
                consumer.order(offering["url"], project["url"], {"cpu": 1, "mem": 1}, name=name)
                for offering in (generated, verbatim)
                for name in HOSTILE_NAMES
            ]
            for order in orders:
                done = wait_for(
                    lambda o=order: terminal(consumer, o["uuid"]), what="order", log=agent.log
                )
                assert done["state"] == "done", done
            # The names are descriptions on the backend, byte for byte; never an account name.
            for db in dbs:
                described = {d for (d,) in db.query("SELECT description FROM accounts")}
                assert described == set(HOSTILE_NAMES)
                assert all(SAFE_USERNAME.fullmatch(a) for a in db.accounts())

            accounts = sorted(dbs[0].accounts())
            wait_for(
                lambda: all(len(dbs[0].members(a)) == 2 + len(HOSTILE_NAMES) for a in accounts),
                what="every member linked under a generated name",
                log=agent.log,
            )
            members = dbs[0].members(accounts[0])
            assert all(SAFE_USERNAME.fullmatch(u) for u in members), members

            refused = "contains characters that are not allowed"
            wait_for(lambda: refused in agent.log(), what="hostile usernames refused")
            verbatim_accounts = sorted(dbs[1].accounts())
            wait_for(
                lambda: all({"alice", "bob"} <= dbs[1].members(a) for a in verbatim_accounts),
                what="the plain usernames linked beside the refused ones",
                log=agent.log,
            )
            for account in verbatim_accounts:
                assert all(SAFE_USERNAME.fullmatch(u) for u in dbs[1].members(account))
        finally:
            consumer.close()
            assert agent.stop() == 0
        log = agent.log()
        assert "Unhandled exception" not in log and " died" not in log
        # A newline in a name never starts a line of its own (a forged log line).
        assert all(re.match(r"\d{4}-\d\d-\d\d ", line) for line in log.splitlines())
