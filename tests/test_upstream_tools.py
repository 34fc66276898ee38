"""Upstream's operator commands that run here under their upstream names and as subcommands:
`waldur_site_healthz`, `waldur_site_diagnostics`, `waldur_site_test_order`."""

import json
import os
import time

import pytest
import yaml

from tests.e2e.harness import Agent, offering_config, wait_for
from waldur_site_agent_actors.actors.status import AgentStatus, OfferingStatus
from waldur_site_agent_actors.agent import status
from waldur_site_agent_actors.agent.cli import main
from waldur_site_agent_actors.agent.site_tools import (
    legacy_diagnostics,
    legacy_healthz,
    legacy_test_order,
)


def write_config(path, offerings, **root):
    path.write_text(yaml.safe_dump({**root, "offerings": offerings}))
    return str(path)


def test_healthz_probes_a_running_agent_and_its_waldur(tmp_path, sim, world, capsys):
    offering, _ = world
    state = tmp_path / "state"
    agent = Agent(tmp_path, [offering_config(sim, offering, state)]).start()
    config = str(agent.config)
    try:
        wait_for(lambda: status.status_path(str(state)).exists(), what="status", log=agent.log)
        assert main(["healthz", "-c", config]) == 0
        assert capsys.readouterr() == ("", "")  # as upstream's probe: silent when healthy
        assert legacy_healthz(["--config-file", config, "--liveness-only"]) == 0
        # Waldur down (here: a config naming a Waldur nobody listens at): not ready, alive.
        cut_off = {**offering_config(sim, offering, state), "waldur_api_url": "http://127.0.0.1:9/"}
        unreachable = write_config(tmp_path / "down.yaml", [cut_off], state_dir=str(state))
        assert legacy_healthz(["--config-file", unreachable]) == 1
        err = capsys.readouterr().err
        assert err.startswith("Cannot reach Waldur API: hpc: GET users/me/")
        assert sim.provider_token not in err
        assert legacy_healthz(["--config-file", unreachable, "--liveness-only"]) == 0
    finally:
        assert agent.stop() == 0
    assert legacy_healthz(["--config-file", config, "--liveness-only"]) == 1
    err = capsys.readouterr().err
    assert err == f"Heartbeat stale or missing: no {state}/status.json: the agent is not running\n"


def test_healthz_liveness_is_the_agents_own_state(tmp_path, capsys):
    config = write_config(
        tmp_path / "c.yaml",
        [
            {
                "name": "hpc",
                "waldur_api_url": "http://127.0.0.1:9/",
                "waldur_api_token": "x" * 40,
                "waldur_offering_uuid": "a" * 32,
                "backend_type": "demo",
            }
        ],
        state_dir=str(tmp_path),
    )

    def written(healthy=True, age=0.0, pid=None):
        status.write(
            str(tmp_path),
            AgentStatus(
                pid=pid or os.getpid(),
                started_at=time.time(),
                version="1",
                healthy=healthy,
                offerings=[OfferingStatus(name="hpc", uuid="a" * 32, state="FAILED")]
                if not healthy
                else [],
            ),
        )
        path = status.status_path(str(tmp_path))
        os.utime(path, (time.time() - age, time.time() - age))

    written()
    assert main(["healthz", "-c", config, "--liveness-only"]) == 0
    written(age=400)
    assert main(["healthz", "-c", config, "--liveness-only"]) == 1
    assert "was written 400 s ago (at most 300 s allowed)" in capsys.readouterr().err
    assert main(["healthz", "-c", config, "--liveness-only", "--max-age", "600"]) == 0
    written(healthy=False)
    assert main(["healthz", "-c", config, "--liveness-only"]) == 1
    assert capsys.readouterr().err.endswith("the agent is unhealthy: hpc FAILED\n")
    written(pid=2**22 + 12345)  # beyond pid_max: no such process
    assert main(["healthz", "-c", config, "--liveness-only"]) == 1
    assert "(pid 4206649) is gone" in capsys.readouterr().err
    assert main(["healthz", "-c", str(tmp_path / "absent.yaml")]) == 2


def test_diagnostics_under_upstreams_name(tmp_path, sim, world, capsys):
    offering, _ = world
    config = write_config(tmp_path / "c.yaml", [offering_config(sim, offering, tmp_path)])
    assert legacy_diagnostics(["-m", "order_process", "-c", config]) == 0
    assert capsys.readouterr().out.splitlines()[-1].endswith("all passed")


@pytest.fixture
def demo_config(tmp_path, sim, world):
    offering, _ = world
    return offering["uuid"], write_config(
        tmp_path / "c.yaml", [offering_config(sim, offering, tmp_path)]
    )


def test_test_order_templates_listed_filled_and_checked(tmp_path, capsys):
    assert legacy_test_order(["--list-templates"]) == 0
    assert "  - update/limits-only.json" in capsys.readouterr().out.splitlines()
    uuid = "d629d5e4-5567-425d-a9cd-bdc1af67b32c"
    args = ["--template", "create/with-limits.json", "--generate-only", "--var", "cpu_limit=20"]
    assert main(["test-order", *args, "--var", f"offering_uuid={uuid}"]) == 0
    order = json.loads(capsys.readouterr().out)
    assert (order["type"], order["offering_uuid"], order["limits"]) == (
        "Create",
        uuid,
        {"cpu": 20, "mem": 2000},
    )
    assert main(["test-order", "--template", "update/limits-only.json", "--generate-only"]) == 1
    assert "the template needs --var new_cpu_limit=... --var offering_uuid=..." in (
        capsys.readouterr().err
    )
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"type": "Update", "uuid": "not-a-uuid", "limits": {"cpu": "x"}}))
    assert main(["test-order", "--order-file", str(broken), "--validate-only"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("Test Result: FAILED\nOrder UUID: not-a-uuid\nOrder Type: Update\n")
    assert "  - uuid 'not-a-uuid' is not a UUID" in out
    assert "  - the Update order needs its marketplace_resource_uuid" in out


def test_test_order_against_the_offering_and_its_backend(demo_config, capsys):
    offering, config = demo_config
    fill = ["--var", f"offering_uuid={offering}", "--var", "cpu_limit=5"]
    args = ["--config", config, "--template", "create/with-limits.json", *fill]
    assert legacy_test_order([*args, "--use-real-backend", "--json-output"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["success"] and result["order_type"] == "Create"
    assert result["backend_operations"] == [
        {"operation": "ping", "backend": "demo", "result": "ok"}
    ]
    assert legacy_test_order([*args, "--dry-run", "--json-output"]) == 0
    assert json.loads(capsys.readouterr().out)["backend_operations"] == []
    order = {"uuid": offering, "type": "Create", "offering_uuid": offering, "limits": {"tape": 1}}
    path = os.path.join(os.path.dirname(config), "order.json")
    with open(path, "w") as handle:
        json.dump(order, handle)
    assert main(["test-order", "-c", config, "--order-file", path]) == 1
    assert "  - limits of tape: no such component in hpc" in capsys.readouterr().out
