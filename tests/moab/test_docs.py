"""docs/moab.md: its configuration example is accepted by `waldur-site-agent validate`, and the
backend shows up in `waldur-site-agent diagnostics`."""

import re
import subprocess
import sys
from pathlib import Path

import yaml

from tests.moab.world import DEPOSIT, moab_scenario
from waldur_site_agent_actors.simulators.waldur import WaldurSimulator

DOC = Path(__file__).parents[2] / "docs" / "moab.md"


def example() -> str:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) == 1, "one configuration example"
    return blocks[0]


def agent(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "waldur_site_agent_actors.agent.cli", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parents[2],
    )


def test_the_documented_example_validates(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(example())
    checked = agent("validate", "--strict", "-c", str(config))
    assert checked.returncode == 0, checked.stdout + checked.stderr

    broken = yaml.safe_load(example())
    broken["offerings"][0]["backend_settings"]["mam_binpath"] = "/opt/mam/bin"
    config.write_text(yaml.safe_dump(broken))
    refused = agent("validate", "-c", str(config))
    assert refused.returncode != 0
    assert (
        "offerings[0].backend_settings.mam_binpath: unknown key" in refused.stdout + refused.stderr
    )


def test_diagnostics_reaches_waldur_and_mam(tmp_path, mam):
    mam.ok("mam-create-account", "-a", "waldur_old")
    with WaldurSimulator(moab_scenario(), tick_interval=0) as sim:
        offering = sim.summary()["offerings"][0]
        document = yaml.safe_load(example())
        document["offerings"][0].update(
            waldur_api_url=sim.api_url,
            waldur_api_token=sim.provider_token,
            waldur_offering_uuid=offering["uuid"],
            backend_components={"deposit": DEPOSIT},
            backend_settings={"allocation_prefix": "waldur_", "mam_bin_path": str(mam.bin)},
        )
        config = tmp_path / "config.yaml"
        config.write_text(yaml.safe_dump(document))
        report = agent("diagnostics", "-c", str(config))
    output = report.stdout + report.stderr
    assert report.returncode == 0, output
    assert "backend moab: ping ok" in output
    assert "Moab Accounting Manager version 9.1.1: 1 account(s), 1 named with prefix" in output
