"""The agent's commands in a pip venv that upstream's core was installed into after the agent:
the console scripts the two share are upstream's now (a venv's scripts are the last package's),
`waldur-site-agent` and the commands module stay the agent's (docs/plugins.md, "Commands"; the
package's /usr/bin wrappers run that module: tests/packaging/test_upstream_plugins.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from waldur_site_agent_actors.agent.cli import version
from waldur_site_agent_actors.agent.commands import COMMANDS


def run(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=120)


def test_upstreams_core_takes_the_shared_script_names_but_not_the_agents(venv, python):
    assert "from waldur_site_agent.main import" in (venv / "bin" / "waldur_site_agent").read_text()
    ours = run(venv / "bin" / "waldur-site-agent", "--version")
    assert ours.stdout.strip() == f"waldur-site-agent {version()}", ours.stderr


def test_every_command_name_runs_the_agents_code_through_the_module(python):
    module = [python, "-m", "waldur_site_agent_actors.agent.commands"]
    # Upstream's `waldur_site_agent` would read the file and start; the agent's refuses it.
    legacy = run(*module, "waldur_site_agent", "-c", "/nonexistent.yaml")
    assert (legacy.returncode, legacy.stderr.splitlines()[-1].strip()) == (
        2,
        "/nonexistent.yaml: no such file",
    ), legacy.stderr
    for name in set(COMMANDS) - {"waldur-site-agent", "waldur_site_agent"}:
        shown = run(*module, name, "--help")
        assert shown.returncode == 0, (name, shown.stderr)
        assert shown.stdout.startswith("usage: waldur-site-agent "), (name, shown.stdout)


def test_validate_says_which_names_on_path_run_upstreams_agent(venv, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(
        "offerings:\n- name: o\n  waldur_api_url: http://127.0.0.1:1/api/\n"
        "  waldur_api_token: t\n  waldur_offering_uuid: 0123456789abcdef0123456789abcdef\n"
        "  backend_type: demo\n"
    )
    validate = [venv / "bin" / "waldur-site-agent", "validate", "-c", config]
    path = f"{venv / 'bin'}:/usr/bin:/bin"
    taken = subprocess.run(
        [str(a) for a in validate], capture_output=True, text=True, env={"PATH": path}, timeout=120
    )
    assert taken.returncode == 0, taken.stderr
    warning = next(line for line in taken.stderr.splitlines() if "upstream's agent" in line)
    assert "waldur_site_agent, waldur_site_load_components," in warning, warning
    assert f"in {venv / 'bin'} run upstream's agent, not this one" in warning, warning
    # This agent's own scripts first on PATH: nothing to say.
    ours = Path(sys.executable).parent
    clean = subprocess.run(
        [str(a) for a in validate],
        capture_output=True,
        text=True,
        env={"PATH": f"{ours}:{path}"},
        timeout=120,
    )
    assert clean.returncode == 0 and "upstream's agent" not in clean.stderr, clean.stderr
