"""docs/mup.md's example is a config the agent accepts; `diagnostics` checks MUP with it."""

import re
import subprocess
import sys
from pathlib import Path

import yaml

from waldur_site_agent_actors.simulators.waldur import WaldurSimulator

ROOT = Path(__file__).resolve().parents[2]


def documented_config() -> dict:
    text = (ROOT / "docs" / "mup.md").read_text()
    block = re.search(r"```yaml\n(.*?)```", text, re.DOTALL)
    assert block, "docs/mup.md has a YAML example"
    return yaml.safe_load(block.group(1))


def agent(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "waldur_site_agent_actors.agent.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def test_the_documented_example_validates_strictly_and_a_misspelt_key_does_not(tmp_path):
    path = tmp_path / "mup.yaml"
    path.write_text(yaml.safe_dump(documented_config()))
    checked = agent("validate", "--strict", "-c", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "OK (1 offering)" in checked.stdout

    config = documented_config()
    config["offerings"][0]["backend_settings"]["pasword"] = "typo"
    config["offerings"][0]["backend_components"]["cpu"]["mup_allocation"] = "x"
    path.write_text(yaml.safe_dump(config))
    refused = agent("validate", "-c", str(path))
    assert refused.returncode != 0
    assert "backend_settings.pasword" in refused.stdout + refused.stderr
    assert "backend_components.cpu.mup_allocation" in refused.stdout + refused.stderr


def test_diagnostics_reaches_mup_and_never_prints_its_password(tmp_path, mup):
    with WaldurSimulator(tick_interval=0) as sim:
        config = documented_config()
        offering = config["offerings"][0]
        offering.update(
            waldur_api_url=sim.api_url,
            waldur_api_token=sim.provider_token,
            waldur_offering_uuid=sim.summary()["offerings"][0]["uuid"],
        )
        settings = offering["backend_settings"]
        settings.update(api_url=mup.api_url, username=mup.username, password=mup.password)
        path = tmp_path / "mup.yaml"
        path.write_text(yaml.safe_dump(config))
        healthy = agent("diagnostics", "-c", str(path))
        assert healthy.returncode == 0, healthy.stdout + healthy.stderr
        assert "backend mup: ping ok" in healthy.stdout
        assert "MUP http://127.0.0.1" in healthy.stderr + healthy.stdout

        settings["password"] = "Not-The-Password-42"
        path.write_text(yaml.safe_dump(config))
        refused = agent("diagnostics", "-c", str(path))
        output = refused.stdout + refused.stderr
        assert refused.returncode != 0
        assert "backend mup: ping FAILED" in output
        assert "Invalid username/password" in output
        assert "Not-The-Password-42" not in output and mup.password not in output
