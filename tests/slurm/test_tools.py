"""The operator subcommands (and upstream's script names) against the simulator and the cluster."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest
import tomli_w

from tests.slurm.conftest import COMPONENTS, settings
from waldur_site_agent_actors.agent import site_tools
from waldur_site_agent_actors.agent.cli import main
from waldur_site_agent_actors.backends.slurm.backend import SlurmBackend
from waldur_site_agent_actors.backends.structures import WaldurResource
from waldur_site_agent_actors.simulators.waldur import WaldurSimulator
from waldur_site_agent_actors.simulators.waldur.seed import default_scenario


@pytest.fixture
def sim():
    scenario = default_scenario()
    # Two resources Waldur already has, as if created by an earlier agent.
    scenario["resources"] = [
        {"name": "Old run", "offering": "SLURM cluster", "project": "Climate modelling"},
        {"name": "Other run", "offering": "SLURM cluster", "project": "Climate modelling"},
    ]
    with WaldurSimulator(scenario, tick_interval=0) as simulator:
        yield simulator


def write_config(tmp_path, sim, run_id: str, **extra: Any) -> str:
    offering = sim.summary()["offerings"][0]
    config = {
        "state_dir": str(tmp_path / "state"),
        "offerings": [
            {
                "name": "hpc",
                "waldur_api_url": sim.api_url,
                "waldur_api_token": sim.provider_token,
                "waldur_offering_uuid": offering["uuid"],
                "backend_type": "slurm",
                "backend_settings": settings(run_id, **extra),
                "backend_components": COMPONENTS,
            }
        ],
    }
    path = tmp_path / "agent.toml"
    path.write_text(tomli_w.dumps(config))
    return str(path)


def components(consumer, sim) -> dict[str, dict[str, Any]]:
    uuid = sim.summary()["offerings"][0]["uuid"]
    offering = consumer._call("GET", f"marketplace-provider-offerings/{uuid}/")
    return {c["type"]: c for c in offering["components"]}


def test_load_components_updates_and_creates_and_the_old_name_works(
    tmp_path, sim, consumer, run_id, capsys
):
    config = write_config(tmp_path, sim, run_id)
    assert main(["load-components", "-c", config]) == 0
    found = components(consumer, sim)
    assert found["cpu"]["measured_unit"] == "6 CPU-seconds"
    assert found["gpu"]["name"] == "GPU"

    # A component only the config has is created; upstream's script name and flags still work.
    document = tmp_path / "agent.toml"
    text = document.read_text().replace(
        "[offerings.backend_components.cpu]",
        (
            '[offerings.backend_components.billing]\nmeasured_unit = "units"\n'
            'accounting_type = "usage"\nlabel = "Billing"\n\n[offerings.backend_components.cpu]'
        ),
    )
    document.write_text(text)
    assert site_tools.legacy_load_components(["-m", "order_process", "-c", config]) == 0
    assert components(consumer, sim)["billing"]["billing_type"] == "usage"
    assert "component billing created" in capsys.readouterr().out


def waldur_resources(consumer, sim) -> dict[str, dict[str, Any]]:
    rows = consumer._call("GET", "marketplace-resources/")
    return {r["name"]: r for r in rows}


def seeded_account(
    sim, consumer, backend: SlurmBackend, name: str, limits: dict[str, float]
) -> str:
    """A SLURM account for one of the seeded resources, whose backend_id Waldur then holds."""
    resource = waldur_resources(consumer, sim)[name]
    target = WaldurResource(
        uuid=resource["uuid"],
        name=name,
        slug=resource["slug"],
        project_uuid=resource["project_uuid"],
        project_slug="climate-modelling",
        customer_slug="university",
        limits=limits,
    )
    account = backend.resource_backend_id(target)
    backend.create_resource_with_id(target, account)
    with sim.state.lock:
        stored = sim.state.get("resources", resource["uuid"])
        stored["backend_id"] = account
        stored["limits"] = {"cpu": 1, "mem": 1}
        sim.state.put("resources", stored)
        sim.state.commit()
    return account


@pytest.mark.slurm
def test_limits_usage_history_and_diagnosis_of_existing_accounts(
    tmp_path, sim, consumer, slurm, make_backend, run_id, capsys
):
    backend = make_backend()
    config = write_config(tmp_path, sim, run_id)
    account = seeded_account(sim, consumer, backend, "Old run", {"cpu": 40, "mem": 3})

    assert main(["sync-resource-limits", "-c", config]) == 0
    assert waldur_resources(consumer, sim)["Old run"]["limits"] == {"cpu": 40, "mem": 3}

    backend.add_user(account, "root")
    job = slurm.submit(account, "root", seconds=3, cpus=4)
    slurm.wait_job(job, ("COMPLETED",), timeout=30)
    today = __import__("datetime").date.today().isoformat()
    assert main(["load-historical-usage", "-c", config, "-s", today, "-e", today]) == 0
    rows = consumer._call(
        "GET",
        "marketplace-component-usages/",
        resource_uuid=waldur_resources(consumer, sim)["Old run"]["uuid"],
    )
    usage = {row["type"]: float(row["usage"]) for row in rows}
    expected = backend.get_usage_report([account])[account]
    assert usage["cpu"] == expected["TOTAL_ACCOUNT_USAGE"]["cpu"] > 0

    capsys.readouterr()
    legacy = site_tools.legacy_diagnose_slurm_account
    assert legacy(["--config", config, account, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["exists"] is True
    assert (
        report["tree"]
        == f"{account} <- p{run_id}_climate-modelling <- c{run_id}_university <- root"
    )
    assert report["limits_waldur"] == {"cpu": 40.0, "mem": 3.0}
    assert report["users"] == ["root"]
    assert report["waldur_resources"][0]["name"] == "Old run"
    assert main(["diagnose-slurm-account", "-c", config, f"a{run_id}_nosuch"]) == 1


@pytest.mark.slurm
def test_import_offers_unknown_accounts_once(tmp_path, sim, consumer, slurm, make_backend, run_id):
    backend = make_backend()
    config = write_config(tmp_path, sim, run_id)
    seeded_account(sim, consumer, backend, "Old run", {"cpu": 10, "mem": 1})
    stray = WaldurResource(
        uuid="f" * 32,
        name="Made by hand",
        slug="by-hand",
        project_uuid="nowhere",
        project_slug="climate-modelling",
        customer_slug="university",
        limits={"cpu": 20, "mem": 2},
    )
    backend.create_resource_with_id(stray, backend.resource_backend_id(stray))

    assert main(["import-resources", "-c", config, "--dry-run"]) == 0
    assert consumer._call("GET", "backend-resources/") == []
    assert main(["import-resources", "-c", config]) == 0
    offered = consumer._call("GET", "backend-resources/")
    assert [(b["backend_id"], b["name"]) for b in offered] == [
        (f"a{run_id}_by-hand", "made by hand")
    ]
    assert offered[0]["backend_metadata"] == {"limits": {"cpu": 20.0, "mem": 2.0}}
    assert main(["import-resources", "-c", config]) == 0
    assert len(consumer._call("GET", "backend-resources/")) == 1


@pytest.mark.slurm
@pytest.mark.skipif(os.getuid() != 0, reason="creating Unix users needs root")
def test_create_homedirs_for_ok_offering_users_only_when_enabled(
    tmp_path, sim, consumer, slurm, run_id, capsys
):
    user = f"h{run_id}"
    home = tmp_path / user
    subprocess.run(["useradd", "--no-create-home", "--home-dir", str(home), user], check=True)
    try:
        offering_user = consumer._call("GET", "marketplace-offering-users/")[0]
        consumer._call(
            "PATCH", f"marketplace-offering-users/{offering_user['uuid']}/", {"username": user}
        )
        assert main(["create-homedirs", "-c", write_config(tmp_path, sim, run_id)]) == 0
        assert "not enabled" in capsys.readouterr().out and not home.exists()
        enabled = write_config(tmp_path, sim, run_id, create_homedirs=True)
        assert site_tools.legacy_create_homedirs(["-c", enabled]) == 0
        assert home.is_dir()
        assert "1 home directory(ies) created" in capsys.readouterr().out
    finally:
        subprocess.run(["userdel", user], check=False)
