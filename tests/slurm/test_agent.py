"""The whole agent service with the SLURM backend: the Waldur simulator on one side, the real
test cluster on the other, checked on both."""

from __future__ import annotations

import json
import re
import stat
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import requests

from tests.chaos.hostile import COLLIDING_NAMES, POISON_CPU, POISON_REWRITE, one_slug
from tests.e2e.harness import Agent, offering_config, terminal, wait_for
from tests.loopback import LoopbackServer
from tests.slurm.conftest import COMPONENTS, QOS_DOWNSCALED, QOS_PAUSED, mode_settings, settings

pytestmark = pytest.mark.slurm


@pytest.fixture
def agent_for(tmp_path, sim, world, cluster, mode, run_id, cleanup):
    """An agent serving the simulator's SLURM offering with this test's account prefixes, in
    the test's execution mode (`cli`: sacctmgr on Slurm 22.05; `rest`: slurmrestd on 24.11)."""
    slurm = cluster
    slurm.ensure_qos(QOS_PAUSED, QOS_DOWNSCALED)
    # Jobs run as the simulator's offering users; slurmctld resolves a user's uid when the
    # association appears, so the Unix users exist first, as they do on a real site.
    for user in ("aandersen", "bberg", "cclark"):
        slurm.ensure_unix_user(user)
    offering, _ = world
    agents: list[Agent] = []

    def start(**extra: Any) -> Agent:
        config = offering_config(sim, offering, tmp_path / "state")
        config.update(
            backend_type="slurm",
            backend_settings=settings(run_id, **{**mode_settings(cluster, mode), **extra}),
            backend_components=COMPONENTS,
        )
        for key in ("customer_prefix", "project_prefix", "allocation_prefix"):
            cleanup.append(config["backend_settings"][key])
        agents.append(Agent(tmp_path, [config]).start())
        return agents[-1]

    yield start
    for agent in agents:
        assert agent.stop() == 0


def create(consumer, offering, project, agent, limits=None):
    order = consumer.order(offering["url"], project["url"], limits or {"cpu": 100, "mem": 5})
    done = wait_for(lambda: terminal(consumer, order["uuid"]), what="create", log=agent.log)
    assert done["state"] == "done", done
    return consumer.resource(done["marketplace_resource_uuid"])


def flag(consumer, resource, name, value):
    consumer._call("POST", f"marketplace-resources/{resource['uuid']}/set_{name}/", {name: value})


def test_orders_team_changes_and_qos_reach_the_cluster(cluster, consumer, world, agent_for, run_id):
    offering, projects = world
    # A paused account must really stop new jobs, not just carry a QoS name.
    cluster.sacctmgr("modify", "qos", QOS_PAUSED, "set", "MaxSubmitJobsPerUser=0")
    agent = agent_for()
    resource = create(consumer, offering, projects[0], agent)
    account = resource["backend_id"]
    own = cluster.account(account)
    assert own["parent"] == f"p{run_id}_climate-modelling"
    assert cluster.account(own["parent"])["parent"] == f"c{run_id}_university"
    assert own["GrpTRESMins"] == "cpu=10,mem=80M"  # 100 x 0.1 CPU-min, 5 x 16 MB-min
    wait_for(
        lambda: cluster.users(account) == {"aandersen", "bberg"},
        what="the team as associations",
        log=agent.log,
    )

    update = consumer.update_limits(resource["uuid"], {"cpu": 300, "mem": 2})
    assert wait_for(lambda: terminal(consumer, update), what="update")["state"] == "done"
    assert cluster.account(account)["GrpTRESMins"] == "cpu=30,mem=32M"

    consumer.add_user(projects[0]["uuid"], consumer.user_uuid("carol"))
    consumer.remove_user(projects[0]["uuid"], consumer.user_uuid("bob"))
    wait_for(
        lambda: cluster.users(account) == {"aandersen", "cclark"},
        what="carol in, bob out",
        log=agent.log,
    )

    flag(consumer, resource, "paused", True)
    wait_for(lambda: cluster.account(account)["qos"] == QOS_PAUSED, what="paused", log=agent.log)
    wait_for(
        lambda: consumer.resource(resource["uuid"])["backend_metadata"].get("qos") == QOS_PAUSED,
        what="the QoS in Waldur's metadata",
        log=agent.log,
    )
    refusal = cluster.refused(account, "aandersen")
    assert re.search(r"QOSMaxSubmitJobPerUserLimit|Job violates", refusal), refusal
    flag(consumer, resource, "paused", False)
    flag(consumer, resource, "downscaled", True)
    wait_for(
        lambda: cluster.account(account)["qos"] == QOS_DOWNSCALED, what="downscaled", log=agent.log
    )
    flag(consumer, resource, "downscaled", False)
    wait_for(lambda: cluster.account(account)["qos"] == "normal", what="restored", log=agent.log)

    job = cluster.submit(account, "aandersen", seconds=300)
    cluster.wait_job(job, ("RUNNING",))
    terminate = consumer.terminate(resource["uuid"])
    done = wait_for(lambda: terminal(consumer, terminate), what="terminate", log=agent.log)
    assert done["state"] == "done", done
    assert cluster.account(account) is None
    assert cluster.job_state(job) == "CANCELLED"
    assert consumer.resource(resource["uuid"])["state"] == "Terminated"


def usages(consumer, resource_uuid):
    rows = consumer._call("GET", "marketplace-component-usages/", resource_uuid=resource_uuid)
    return {row["type"]: float(row["usage"]) for row in rows}


def user_usages(consumer, resource_uuid):
    rows = consumer._call("GET", "marketplace-component-user-usages/", resource_uuid=resource_uuid)
    return {(row["username"], row["component_type"]): float(row["usage"]) for row in rows}


def expected_usage(slurm, jobs: dict[str, str]) -> dict[str, dict[str, float]]:
    """Waldur-unit usage per user, computed here from sacct's own figures for these jobs."""
    from waldur_site_agent_actors.backends import units
    from waldur_site_agent_actors.backends.slurm.usage import parse_tres

    tres = {"cpu": "cpu", "mem": "mem", "gpu": "gres/gpu"}
    minutes: dict[str, dict[str, float]] = {}
    for user, job in jobs.items():
        alloc, elapsed = (
            slurm.run(
                "sacct", "-n", "-P", "-X", "--noconvert", "-j", job, "--format=AllocTRES,ElapsedRaw"
            )
            .strip()
            .split("|")
        )
        amounts = parse_tres(alloc)
        for key, name in tres.items():
            total = minutes.setdefault(user, {})
            total[key] = total.get(key, 0) + amounts.get(name, 0) * int(elapsed) / 60
    result = {
        user: {k: units.usage_to_waldur(v, COMPONENTS[k]["unit_factor"]) for k, v in m.items()}
        for user, m in minutes.items()
    }
    result["total"] = {
        k: units.usage_to_waldur(sum(m[k] for m in minutes.values()), COMPONENTS[k]["unit_factor"])
        for k in tres
    }
    return result


def test_job_usage_reaches_waldur_in_waldur_units_and_never_decreases(
    cluster, consumer, world, agent_for
):
    offering, projects = world
    agent = agent_for()
    resource = create(consumer, offering, projects[0], agent)
    account = resource["backend_id"]
    wait_for(lambda: cluster.users(account) == {"aandersen", "bberg"}, what="team", log=agent.log)
    jobs = {
        "aandersen": cluster.submit(account, "aandersen", seconds=10, cpus=4, gpus=2),
        "bberg": cluster.submit(account, "bberg", seconds=4, cpus=2),
    }
    seen: list[dict[str, float]] = []

    def finished():
        seen.append(usages(consumer, resource["uuid"]))
        states = {cluster.job_state(job) for job in jobs.values()}
        if states != {"COMPLETED"}:
            return False
        return seen[-1] == {k: float(v) for k, v in expected_usage(cluster, jobs)["total"].items()}

    wait_for(finished, timeout=60, what="usage of the finished jobs", log=agent.log)
    expected = expected_usage(cluster, jobs)
    assert expected["total"]["cpu"] > 0 and expected["total"]["gpu"] > 0
    # It was reported while the jobs ran, and never went down.
    growing = [u.get("cpu", 0) for u in seen]
    assert growing == sorted(growing)
    assert any(0 < value < expected["total"]["cpu"] for value in growing)
    per_user = wait_for(
        lambda: (
            (u := user_usages(consumer, resource["uuid"]))
            and u[("bberg", "cpu")] == expected["bberg"]["cpu"]
            and u
        ),
        what="per-user usage",
        log=agent.log,
    )
    for user in ("aandersen", "bberg"):
        for component in ("cpu", "mem", "gpu"):
            assert per_user[(user, component)] == expected[user][component], (user, component)


class RecordingProxy(LoopbackServer):
    """Forwards HTTP requests to slurmrestd and writes each one down, body included."""

    def __init__(self, target: str) -> None:
        self.target, self.seen = target, []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                shown = json.dumps(json.loads(body), ensure_ascii=False) if body else ""
                proxy.seen.append(f"{self.command} {unquote(self.path)} {shown}")
                answer = requests.request(
                    self.command,
                    proxy.target + self.path,
                    data=body,
                    headers={k: v for k, v in self.headers.items() if k.lower() != "host"},
                    timeout=60,
                )
                self.send_response(answer.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_DELETE = _forward

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(Handler)


def test_hostile_names_are_refused_before_any_command_runs(
    tmp_path, sim, cluster, mode, consumer, world, agent_for
):
    offering, projects = world
    # Every SLURM command the agent runs goes through a wrapper that writes down its argv, and
    # in REST mode every request to slurmrestd through a proxy that writes it down.
    wrappers, calls = tmp_path / "bin", tmp_path / "calls.log"
    wrappers.mkdir()
    for command in ("sacctmgr", "sacct", "squeue", "scancel"):
        script = wrappers / command
        script.write_text(
            f'#!/bin/sh\nprintf "%s\\n" "$*" >> {calls}\nexec {cluster.bin_path}/{command} "$@"\n'
        )
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    orders = {}
    for bad in ("a;b", "$(id)", "x" * 200, "ünïcödé"):
        order = consumer.order(offering["url"], projects[1]["url"], {"cpu": 1, "mem": 1})
        with sim.state.lock:
            stored = sim.state.get("resources", order["marketplace_resource_uuid"])
            stored["slug"] = bad
            sim.state.put("resources", stored)
            sim.state.commit()
        orders[bad] = order["uuid"]
    extra: dict[str, Any] = {"slurm_bin_path": str(wrappers)}
    proxy = RecordingProxy(cluster.rest_url) if mode == "rest" else None
    if proxy:
        extra["rest_api"] = cluster.rest_api(url=proxy.url)
    agent = agent_for(**extra)
    for uuid in orders.values():
        erred = wait_for(lambda uuid=uuid: terminal(consumer, uuid), what="erred", log=agent.log)
        assert erred["state"] == "erred", erred
        assert "not allowed" in erred["error_message"] or "longer than" in erred["error_message"]
    logged = Path(calls).read_text() if calls.exists() else ""
    if proxy:
        proxy.close()
        logged += "\n".join(proxy.seen)
        assert not [r for r in proxy.seen if r.startswith(("POST", "DELETE"))], proxy.seen
    assert logged, "nothing reached SLURM at all (ping runs first)"
    for bad in orders:
        assert bad not in logged
    assert "add" not in logged.split()


def test_colliding_names_never_share_an_account_on_the_cluster(
    cluster, sim, consumer, world, agent_for, run_id
):
    offering, projects = world
    families = {
        family: [
            consumer.order(offering["url"], projects[0]["url"], {"cpu": 100, "mem": 5}, name=n)
            for n in names
        ]
        for family, names in COLLIDING_NAMES.items()
    }
    for orders in families.values():
        one_slug(sim, [o["marketplace_resource_uuid"] for o in orders])
    # An account made by hand with the name the first of them would get: no owner record.
    by_hand = f"a{run_id}_touch-x"
    cluster.sacctmgr("add", "account", by_hand, "parent=root", "description=by hand")
    agent = agent_for()
    accounts: dict[str, list[str]] = {}
    for family, orders in families.items():
        for order in orders:
            done = wait_for(lambda o=order: terminal(consumer, o["uuid"]), log=agent.log)
            assert done["state"] == "done", (family, done["error_message"])
            resource = consumer.resource(order["marketplace_resource_uuid"])
            accounts.setdefault(family, []).append(resource["backend_id"])
    every = [a for names in accounts.values() for a in names]
    assert len(set(every)) == len(every), accounts
    # Orders of different resources run in lanes, side by side: either may take `-2` first.
    assert sorted(accounts["shell"]) == [f"{by_hand}-2", f"{by_hand}-3"]
    for orders in families.values():
        for order in orders:
            resource = consumer.resource(order["marketplace_resource_uuid"])
            organization = cluster.sacctmgr(
                "show", "account", resource["backend_id"], "format=Organization"
            )
            assert organization == [[f"waldur-resource-{resource['uuid']}"]]

    for orders in families.values():
        terminate = consumer.terminate(orders[0]["marketplace_resource_uuid"])
        done = wait_for(lambda t=terminate: terminal(consumer, t), log=agent.log)
        assert done["state"] == "done", done["error_message"]
    for family, names in accounts.items():
        assert cluster.account(names[0]) is None, family
        assert all(cluster.account(name) is not None for name in names[1:]), family
    assert cluster.account(by_hand) is not None


def test_a_poison_order_fails_alone_on_the_cluster(cluster, sim, consumer, world, agent_for):
    offering, projects = world
    sim.add_fault(rewrite=POISON_REWRITE)
    good = consumer.order(offering["url"], projects[0]["url"], {"cpu": 100, "mem": 5})
    poison = consumer.order(offering["url"], projects[0]["url"], {"cpu": POISON_CPU, "mem": 5})
    later = consumer.order(offering["url"], projects[1]["url"], {"cpu": 200, "mem": 5})
    agent = agent_for()
    for order in (good, later):
        done = wait_for(lambda o=order: terminal(consumer, o["uuid"]), log=agent.log)
        assert done["state"] == "done", done["error_message"]
        account = consumer.resource(order["marketplace_resource_uuid"])["backend_id"]
        assert cluster.account(account) is not None
    kept = consumer.order_details(poison["uuid"])
    assert kept["state"] == "pending-provider"
    assert "limits.cpu is nan" in kept["error_message"]
    wait_for(
        lambda: (s := agent.status()).returncode == 0 and "RUNNING" in s.stdout,
        what="the offering RUNNING",
        log=agent.log,
    )
    assert " died" not in agent.log()


SET_LIMITS = "POST /api/marketplace-provider-resources/{uuid}/set_limits/"
SYNCED = "POST /api/marketplace-provider-resources/{uuid}/refresh_last_sync/"


def test_membership_sync_takes_an_admins_limit_and_links_service_accounts(
    cluster, sim, consumer, world, agent_for
):
    """A service account of the project is an association of its allocation until closed;
    a GrpTRESMins an admin set with sacctmgr becomes Waldur's limit, and limits that agree
    are never sent."""
    offering, projects = world
    cluster.ensure_unix_user("svc-climate")
    agent = agent_for()
    resource = create(consumer, offering, projects[0], agent)
    account = resource["backend_id"]

    def after_two_syncs() -> None:
        seen = sim.counts().get(SYNCED, 0)
        wait_for(lambda: sim.counts().get(SYNCED, 0) >= seen + 2, what="two syncs", log=agent.log)

    sent = sim.counts().get(SET_LIMITS, 0)
    after_two_syncs()
    assert sim.counts().get(SET_LIMITS, 0) == sent, "Waldur's 100 is SLURM's cpu=10"

    service = consumer._call(
        "POST",
        "marketplace-project-service-accounts/",
        {"project": projects[0]["url"], "username": "svc-climate"},
    )
    wait_for(
        lambda: "svc-climate" in cluster.users(account),
        what="the service account linked",
        log=agent.log,
    )
    consumer._call("DELETE", f"marketplace-project-service-accounts/{service['uuid']}/")
    wait_for(
        lambda: cluster.users(account) == {"aandersen", "bberg"},
        what="the closed service account unlinked",
        log=agent.log,
    )

    cluster.sacctmgr("modify", "account", account, "set", "GrpTRESMins=cpu=50")
    wait_for(
        lambda: consumer.resource(resource["uuid"])["limits"].get("cpu") == 500,
        what="Waldur to take cpu=50 CPU-minutes as 500",
        log=agent.log,
    )
    assert consumer.resource(resource["uuid"])["limits"]["mem"] == 5
    assert cluster.account(account)["GrpTRESMins"] == "cpu=50,mem=80M"
