"""Upstream's published SLURM plugin (`waldur-site-agent-slurm` 1.0.7) under this agent, on the
real test cluster: accounts and limits, associations, usage of a real job, termination."""

from __future__ import annotations

import pytest

from tests.e2e.harness import Agent, terminal, wait_for
from tests.slurm.conftest import COMPONENTS, cleanup, run_id, settings  # noqa: F401 - fixtures

pytestmark = [pytest.mark.slurm, pytest.mark.upstream]


def usages(consumer, resource_uuid):
    rows = consumer._call("GET", "marketplace-component-usages/", resource_uuid=resource_uuid)
    return {row["type"]: float(row["usage"]) for row in rows}


def requested_cpu_usage(slurm, job: str) -> float:
    """What upstream's plugin reports for a finished job: requested CPUs x elapsed minutes,
    in Waldur units (its own formula, computed here from sacct's figures)."""
    line = slurm.run("sacct", "-n", "-P", "-X", "-j", job, "--format=ReqTRES,ElapsedRaw")
    requested, elapsed = line.strip().split("\n")[0].split("|")
    cpus = dict(item.split("=", 1) for item in requested.split(","))["cpu"]
    return round(int(cpus) * int(elapsed) / 60 / COMPONENTS["cpu"]["unit_factor"], 2)


def test_upstream_slurm_plugin_under_this_agent(
    tmp_path,
    sim,
    consumer,
    world,
    slurm,
    run_id,  # noqa: F811
    cleanup,  # noqa: F811
    python,
):
    offering, projects = world
    backend = settings(run_id, enable_user_homedir_account_creation=False)
    backend.pop("qos_paused"), backend.pop("qos_downscaled")
    cleanup.extend([backend[k] for k in ("customer_prefix", "project_prefix", "allocation_prefix")])
    for user in ("aandersen", "bberg"):
        slurm.ensure_unix_user(user)
    config = {
        "name": "upstream slurm",
        "waldur_api_url": sim.api_url,
        "waldur_api_token": sim.provider_token,
        "waldur_offering_uuid": offering["uuid"],
        "backend_type": "slurm",
        "plugin_distributions": {"slurm": "waldur-site-agent-slurm"},
        "backend_settings": backend,
        "backend_components": COMPONENTS,
    }
    agent = Agent(tmp_path, [config]).start(python=python, env={"SLURM_CONF": slurm.conf})
    try:
        order = consumer.order(offering["url"], projects[0]["url"], {"cpu": 100, "mem": 5})
        created = wait_for(lambda: terminal(consumer, order["uuid"]), 90, "create", agent.log)
        assert created["state"] == "done", created
        resource = consumer.resource(created["marketplace_resource_uuid"])
        account = resource["backend_id"]
        assert account == f"a{run_id}_{resource['slug']}"
        assert slurm.account(account)["parent"] == f"p{run_id}_{resource['project_slug']}"
        assert slurm.account(account)["GrpTRESMins"] == "cpu=10,mem=80M"
        wait_for(
            lambda: slurm.users(account) == {"aandersen", "bberg"},
            timeout=90,
            what="the team as associations",
            log=agent.log,
        )

        consumer.remove_user(projects[0]["uuid"], consumer.user_uuid("bob"))
        wait_for(
            lambda: slurm.users(account) == {"aandersen"},
            timeout=90,
            what="bob's association removed",
            log=agent.log,
        )

        job = slurm.submit(account, "aandersen", seconds=3, cpus=2)
        slurm.wait_job(job, ("COMPLETED",))
        expected = requested_cpu_usage(slurm, job)
        assert expected > 0
        wait_for(
            lambda: usages(consumer, resource["uuid"]).get("cpu") == expected,
            timeout=90,
            what=f"the job's {expected} CPU units in Waldur",
            log=agent.log,
        )

        update = consumer.update_limits(resource["uuid"], {"cpu": 300, "mem": 2})
        updated = wait_for(lambda: terminal(consumer, update), 90, "update", agent.log)
        assert updated["state"] == "done", updated
        assert slurm.account(account)["GrpTRESMins"] == "cpu=30,mem=32M"

        terminate = consumer.terminate(resource["uuid"])
        ended = wait_for(lambda: terminal(consumer, terminate), 90, "terminate", agent.log)
        assert ended["state"] == "done", ended
        assert slurm.account(account) is None
    finally:
        assert agent.stop() == 0
    assert "from waldur-site-agent-slurm 1.0.7, pinned in plugin_distributions" in agent.log()
