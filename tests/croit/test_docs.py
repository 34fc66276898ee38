"""docs/croit-s3.md's examples are configs the agent accepts; `diagnostics` reaches Croit."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from waldur_site_agent_actors.simulators.waldur import WaldurSimulator

ROOT = Path(__file__).resolve().parents[2]


def documented_configs() -> list[dict]:
    text = (ROOT / "docs" / "croit-s3.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.DOTALL)
    return [yaml.safe_load(b) for b in blocks if b.startswith("offerings:")]


def agent(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "waldur_site_agent_actors.agent.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def test_the_page_has_all_three_examples():
    kinds = [
        (o.get("reporting_backend", ""), o["backend_settings"].get("flavour", "croit"))
        for o in (c["offerings"][0] for c in documented_configs())
    ]
    assert kinds == [("", "croit"), ("croit_usage", "croit"), ("", "radosgw")]


@pytest.mark.parametrize("index", [0, 1, 2])
def test_each_documented_example_validates_strictly(tmp_path, index):
    path = tmp_path / "croit.yaml"
    path.write_text(yaml.safe_dump(documented_configs()[index]))
    checked = agent("validate", "--strict", "-c", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "OK (1 offering)" in checked.stdout


def test_misspelt_keys_and_mixed_credentials_are_refused(tmp_path):
    config = documented_configs()[0]
    offering = config["offerings"][0]
    offering["backend_settings"]["verify_tls"] = False
    offering["backend_components"]["s3_storage"]["enforce_limit"] = True
    del offering["backend_components"]["s3_objects"]["backend_name"]
    path = tmp_path / "croit.yaml"
    path.write_text(yaml.safe_dump(config))
    refused = agent("validate", "-c", str(path))
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0
    assert "backend_settings.verify_tls" in output
    assert "backend_components.s3_storage.enforce_limit" in output
    assert "backend_components.s3_objects.backend_name: required key is missing" in output

    offering = documented_configs()[1]["offerings"][0]
    offering["backend_settings"]["token"] = "also-a-token"
    path.write_text(yaml.safe_dump({"offerings": [offering]}))
    mixed = agent("validate", "-c", str(path))
    assert mixed.returncode != 0
    assert "set either token, or username and password" in mixed.stdout + mixed.stderr
    assert "also-a-token" not in mixed.stdout + mixed.stderr


def test_diagnostics_reaches_croit_and_never_prints_the_token(tmp_path, croit):
    with WaldurSimulator(tick_interval=0) as sim:
        config = documented_configs()[0]
        offering = config["offerings"][0]
        offering.update(
            waldur_api_url=sim.api_url,
            waldur_api_token=sim.provider_token,
            waldur_offering_uuid=sim.summary()["offerings"][0]["uuid"],
            stomp_enabled=False,
        )
        offering["backend_settings"].update(api_url=croit.api_url, token=croit.token)
        path = tmp_path / "croit.yaml"
        path.write_text(yaml.safe_dump(config))
        healthy = agent("diagnostics", "-c", str(path))
        output = healthy.stdout + healthy.stderr
        assert healthy.returncode == 0, output
        assert "backend croit_s3: ping ok" in output
        assert croit.token not in output

        croit.expire_token()
        refused = agent("diagnostics", "-c", str(path))
        output = refused.stdout + refused.stderr
        assert refused.returncode != 0
        assert "backend croit_s3: ping FAILED" in output
        assert "Croit rejected the API token" in output
        assert croit.token not in output
