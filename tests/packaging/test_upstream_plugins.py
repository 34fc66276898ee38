"""Upstream plugins installed into the package's venv, as a site adds them: upstream's core
comes along and replaces the venv's console scripts of its command names, yet every command in
/usr/bin is still the agent's, and the agent runs the plugin it is told to (its own module holds
the names: agent/commands.py). Needs PyPI (pip downloads the plugin)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.packaging.build_fixture import Built, run
from waldur_site_agent_actors.agent.commands import COMMANDS

pytestmark = pytest.mark.packaging

VENV = Path("/opt/waldur-site-agent")
TOKEN = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def with_upstream_mup(installed: Built) -> Built:
    run(
        str(VENV / "bin" / "pip"),
        "install",
        "-q",
        "-c",
        str(VENV / "constraints-upstream.txt"),
        "waldur-site-agent-mup==1.0.7",
    )
    return installed


def test_the_venvs_script_is_upstreams_now_but_usr_bin_is_the_agents(with_upstream_mup):
    assert "waldur_site_agent.main" in (VENV / "bin" / "waldur_site_agent").read_text()
    for name in COMMANDS:
        wrapper = Path("/usr/bin", name).read_text()
        assert f"-m waldur_site_agent_actors.agent.commands {name} " in wrapper, name
    version = with_upstream_mup.version.split("-")[0]
    assert run("/usr/bin/waldur-site-agent", "--version").stdout.strip() == (
        f"waldur-site-agent {version}"
    )
    # Upstream's own script would read the file and start; the agent's reports the missing file.
    missing = run("/usr/bin/waldur_site_agent", "-c", "/nonexistent.yaml", check=False)
    assert (missing.returncode, missing.stderr.splitlines()[-1].strip()) == (
        2,
        "/nonexistent.yaml: no such file",
    )
    tool = run("/usr/bin/waldur_site_load_components", "--help").stdout
    assert tool.startswith("usage: waldur-site-agent load-components")


def test_validate_chooses_and_names_the_upstream_plugin_when_pinned(with_upstream_mup, tmp_path):
    offering = {
        "name": "mup",
        "waldur_api_url": "https://waldur.example.org/api/",
        "waldur_api_token": TOKEN,
        "waldur_offering_uuid": "d629d5e45567425da9cdbdc1af67b32c",
        "backend_type": "mup",
        "plugin_distributions": {"mup": "waldur-site-agent-mup"},
        "backend_settings": {
            "api_url": "https://mup.example.org/",
            "username": "u",
            "password": "p",
        },
        "backend_components": {
            "cpu": {"measured_unit": "h", "accounting_type": "limit", "label": "CPU"}
        },
    }
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"offerings": [offering]}))
    checked = run("/usr/bin/waldur-site-agent", "validate", "-c", str(config))
    assert "OK (1 offering)" in checked.stdout
    assert (
        "note: offerings[0].backend_type: 'mup' (waldur_site_agent_mup.backend:MUPBackend) from "
        "waldur-site-agent-mup 1.0.7, pinned in plugin_distributions"
    ) in checked.stdout
