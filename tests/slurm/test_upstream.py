"""The upstream agent from PyPI with its own SLURM plugin, unmodified, against the simulator and
the real test cluster: its orders end done with accounts in SLURM, its membership sync gives
team members associations (issue 4's fidelity check with real SLURM)."""

import os

import pytest
import yaml

from tests.simulator.conftest import Api, info, sim  # noqa: F401 - fixtures
from tests.simulator.test_upstream import (  # noqa: F401 - upstream_venv is a fixture
    name_offering_users,
    run_until,
    upstream_venv,
)
from tests.slurm.conftest import settings

pytestmark = [pytest.mark.slurm, pytest.mark.upstream]

COMPONENTS = {
    "cpu": {"measured_unit": "k-Hours", "accounting_type": "limit", "label": "CPU",
            "unit_factor": 60000},
    "mem": {"measured_unit": "gb-Hours", "accounting_type": "limit", "label": "Memory",
            "unit_factor": 61440},
}  # fmt: skip


def test_upstream_slurm_plugin_runs_unmodified(
    sim,  # noqa: F811 - the imported fixtures
    info,  # noqa: F811
    slurm,
    run_id,
    cleanup,
    upstream_venv,  # noqa: F811
    tmp_path,
):
    config = settings(run_id)
    config.pop("qos_paused"), config.pop("qos_downscaled")
    cleanup.extend(
        [config["customer_prefix"], config["project_prefix"], config["allocation_prefix"]]
    )
    offering = info["offerings"][0]
    document = {
        "offerings": [
            {
                "name": "upstream on real SLURM",
                "waldur_api_url": sim.api_url,
                "waldur_api_token": sim.provider_token,
                "waldur_offering_uuid": offering["uuid"],
                "backend_type": "slurm",
                "order_processing_backend": "slurm",
                "membership_sync_backend": "slurm",
                "reporting_backend": "slurm",
                "backend_settings": {**config, "enable_user_homedir_account_creation": False},
                "backend_components": COMPONENTS,
            }
        ]
    }
    cfg = tmp_path / "upstream.yaml"
    cfg.write_text(yaml.safe_dump(document))
    env = {**os.environ, "SLURM_CONF": slurm.conf}
    staff, provider = Api(sim, sim.staff_token), Api(sim, sim.provider_token)
    for i, project in enumerate(info["projects"]):
        answer = staff.post(
            "marketplace-orders/",
            {
                "offering": offering["url"],
                "project": project["url"],
                "plan": offering["plans"][0]["url"],
                "limits": {"cpu": 2 + i, "mem": 1},
                "attributes": {"name": f"upstream {i}"},
            },
        )
        assert answer.status_code == 201, answer.text

    def orders_done():
        return {o["state"] for o in sim.objects("orders")} == {"done"}

    run_until(upstream_venv, "order_process", cfg, env, orders_done, timeout=120)
    accounts = {r["backend_id"] for r in sim.objects("resources")}
    assert all(a.startswith(config["allocation_prefix"]) for a in accounts)
    limits = dict(slurm.sacctmgr("show", "assoc", "format=Account,GrpTRESMins", "where",
                                 f"account={','.join(sorted(accounts))}"))  # fmt: skip
    assert set(limits) == accounts and all("cpu=" in v for v in limits.values())

    name_offering_users(provider)

    def members_associated():
        rows = slurm.sacctmgr("show", "assoc", "format=Account,User", "where",
                              f"account={','.join(sorted(accounts))}")  # fmt: skip
        return len({(a, u) for a, u in rows if u}) >= 4

    run_until(upstream_venv, "membership_sync", cfg, env, members_associated, timeout=120)
    failed = sorted({(r["endpoint"], r["status"]) for r in sim.requests() if r["status"] >= 400})
    assert failed == [], failed
