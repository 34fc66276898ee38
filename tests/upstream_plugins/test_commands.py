"""The agent's commands in a pip venv that upstream's core was installed into after the agent:
the console scripts the two share are upstream's now (a venv's scripts are the last package's),
`waldur-site-agent` and the commands module stay the agent's (docs/plugins.md, "Commands"; the
package's /usr/bin wrappers run that module: tests/packaging/test_upstream_plugins.py)."""

from __future__ import annotations

import subprocess
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
