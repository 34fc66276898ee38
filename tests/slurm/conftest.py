"""Helpers shared by the SLURM tests: unique account prefixes and cleanup of what a test made."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from waldur_site_agent_actors.backends.slurm.backend import SlurmBackend
from waldur_site_agent_actors.backends.structures import WaldurResource

QOS_PAUSED, QOS_DOWNSCALED = "waldur-paused", "waldur-limited"

# Waldur units chosen so that jobs of a few seconds show up as whole numbers:
# cpu: 1 Waldur unit = 0.1 CPU-minutes (6 CPU-seconds), mem: 16 MB-minutes, gpu: 3 GPU-seconds.
COMPONENTS: dict[str, dict[str, Any]] = {
    "cpu": {
        "measured_unit": "6 CPU-seconds",
        "accounting_type": "limit",
        "label": "CPU",
        "unit_factor": 0.1,
    },
    "mem": {
        "measured_unit": "16 MB-minutes",
        "accounting_type": "limit",
        "label": "Memory",
        "unit_factor": 16,
    },
    "gpu": {
        "measured_unit": "3 GPU-seconds",
        "accounting_type": "usage",
        "label": "GPU",
        "unit_factor": 0.05,
    },
}


def settings(run: str, **extra: Any) -> dict[str, Any]:
    return {
        "default_account": "root",
        "customer_prefix": f"c{run}_",
        "project_prefix": f"p{run}_",
        "allocation_prefix": f"a{run}_",
        "qos_paused": QOS_PAUSED,
        "qos_downscaled": QOS_DOWNSCALED,
        # On by default, as upstream; the tests of home directories turn it on themselves.
        "create_homedirs": False,
        **extra,
    }


def resource(project: str = "climate", customer: str = "uni", **fields: Any) -> WaldurResource:
    values: dict[str, Any] = {
        "uuid": uuid.uuid4().hex,
        "name": "Climate run",
        "slug": "climate-run",
        "project_uuid": f"{project}-uuid",
        "project_slug": project,
        "project_name": project.title(),
        "customer_uuid": f"{customer}-uuid",
        "customer_slug": customer,
        "customer_name": customer.title(),
        "limits": {"cpu": 100, "mem": 5},
    }
    values.update(fields)
    return WaldurResource(**values)


def mode_settings(cluster: Any, mode: str) -> dict[str, Any]:
    """What `backend_settings` add to run on `cluster` in `mode` (`cli`, `cli-next`, `rest`)."""
    if mode == "cli":
        return {}
    if mode == "cli-next":
        return {"slurm_bin_path": cluster.bin_path}  # the wrappers of the chroot's commands
    return {
        "execution_mode": "rest",
        "rest_api": cluster.rest_api(),
        "cluster_name": cluster.cluster,
        "slurm_bin_path": cluster.bin_path,  # sacct, for usage
    }


@pytest.fixture
def run_id() -> str:
    return uuid.uuid4().hex[:6]


@pytest.fixture(params=["cli", "rest", "cli-next"])
def mode(request) -> str:
    """Both execution modes on both Slurm versions that can serve them: sacctmgr on Debian 12's
    Slurm 22.05 (`cli`) and on Slurm 24.11 (`cli-next`), slurmrestd on 24.11 (`rest`; 22.05's
    cannot serve the plugin, test_rest.py)."""
    return request.param


@pytest.fixture
def cluster(request, mode):
    """The cluster `mode` runs on: Slurm 22.05 for `cli`, else 24.11."""
    return request.getfixturevalue("slurm" if mode == "cli" else "slurm_next")


@pytest.fixture
def cleanup(request):
    """Accounts whose names start with one of the registered prefixes go at the end."""
    slurm = request.getfixturevalue("cluster" if "mode" in request.fixturenames else "slurm")
    prefixes: list[str] = []
    yield prefixes
    if not prefixes:
        return
    accounts = [row[0] for row in slurm.sacctmgr("show", "account", "format=Account")]
    ours = [a for a in accounts if a.startswith(tuple(prefixes))]
    for account in ours:
        slurm.run("scancel", f"--account={account}", check=False)

    # Children first: allocations, then projects, then customers.
    def depth(account: str) -> int:
        return prefixes.index(next(p for p in prefixes if account.startswith(p)))

    for account in sorted(ours, key=depth, reverse=True):
        slurm.run("sacctmgr", "-i", "remove", "account", "where", f"name={account}", check=False)


@pytest.fixture
def make_backend(request, run_id, cleanup):
    """SLURM backends with this test's prefixes; in the test's `mode` when it has one."""
    mode = request.getfixturevalue("mode") if "mode" in request.fixturenames else "cli"
    slurm = request.getfixturevalue("slurm" if mode == "cli" else "cluster")
    slurm.ensure_qos(QOS_PAUSED, QOS_DOWNSCALED)

    def make(components: dict[str, dict[str, Any]] | None = None, **extra: Any) -> SlurmBackend:
        config = settings(run_id, **{**mode_settings(slurm, mode), **extra})
        for key in ("customer_prefix", "project_prefix", "allocation_prefix"):
            if config[key] not in cleanup:
                cleanup.append(config[key])
        return SlurmBackend(config, COMPONENTS if components is None else components)

    return make
