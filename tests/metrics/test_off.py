"""Metrics off (the default): the agent imports nothing of prometheus_client and listens on no
port; on, a config that cannot be honoured is refused by name."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
import yaml

from tests.e2e.harness import Agent, offering_config, terminal, wait_for
from tests.metrics.scenario import free_port
from waldur_site_agent_actors.agent.cli import main as cli_main
from waldur_site_agent_actors.config import ConfigError, load_mapping


def listening_ports(pid: int) -> set[int]:
    """TCP ports the process listens on (its socket inodes among /proc/net/tcp's LISTEN rows)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd) if fd.is_symlink() else ""
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            if fields[3] == "0A" and fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def served_run(tmp_path, sim, consumer, world, **root) -> tuple[str, set[int]]:
    """The agent's log (with Python's import trace) and its listening ports, once it did an
    order."""
    offering, projects = world
    agent = Agent(tmp_path, [offering_config(sim, offering, tmp_path / "state")], **root)
    agent.start(env={"PYTHONPROFILEIMPORTTIME": "1"})
    try:
        order = consumer.order(offering["url"], projects[0]["url"], {"cpu": 1, "mem": 1})
        done = wait_for(lambda: terminal(consumer, order["uuid"]), what="order", log=agent.log)
        assert done["state"] == "done", done
        assert agent.process is not None
        ports = listening_ports(agent.process.pid)
    finally:
        assert agent.stop() == 0
    return agent.log(), ports


def imported(log: str) -> set[str]:
    return {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in log.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def test_metrics_off_imports_nothing_and_listens_nowhere(tmp_path, sim, consumer, world):
    log, ports = served_run(tmp_path, sim, consumer, world)
    modules = imported(log)
    assert "pykka" in modules  # the trace is there: what is missing was not imported
    assert "prometheus_client" not in modules
    assert ports == set()


def test_metrics_on_imports_it_and_listens_on_the_port(tmp_path, sim, consumer, world):
    port = free_port()
    log, ports = served_run(
        tmp_path, sim, consumer, world, metrics={"enabled": True, "listen_port": port}
    )
    assert "prometheus_client" in imported(log)
    assert ports == {port}


def config(tmp_path: Path, metrics: dict[str, object]) -> Path:
    path = tmp_path / "config.yaml"
    offering = {
        "name": "hpc",
        "waldur_api_url": "http://127.0.0.1:9/api/",
        "waldur_api_token": "t" * 40,
        "waldur_offering_uuid": "a" * 32,
        "backend_type": "demo",
    }
    path.write_text(yaml.safe_dump({"metrics": metrics, "offerings": [offering]}))
    return path


def test_without_the_extra_metrics_are_refused_by_name(tmp_path, monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "prometheus_client" else real(name, *a),
    )
    assert cli_main(["validate", "-c", str(config(tmp_path, {"enabled": True}))]) == 2
    err = capsys.readouterr().err
    assert "metrics.enabled: needs prometheus-client, which is not installed" in err
    assert "[metrics]" in err


def test_no_listener_and_no_textfile_is_refused(tmp_path):
    raw = yaml.safe_load(config(tmp_path, {"enabled": True, "listen_port": 0}).read_text())
    with pytest.raises(ConfigError) as refused:
        load_mapping(raw)
    assert [e.split(":")[0] for e in refused.value.errors] == ["metrics.listen_port"]
    raw["metrics"]["textfile_directory"] = str(tmp_path)
    assert load_mapping(raw).config.metrics.textfile_directory == str(tmp_path)
    raw["metrics"] = {"listen_port": 0}  # off: nothing to check
    assert not load_mapping(raw).config.metrics.enabled
