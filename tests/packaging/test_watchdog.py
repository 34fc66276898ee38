"""The unit's watchdog contract: the agent pings while its supervisor answers, whatever its
offerings do.

systemd restarts the service when the pings stop (WatchdogSec=). A given-up (FAILED) offering is
retried by the supervisor itself and shown by `status`; were it to stop the pings, systemd would
restart every healthy offering with it, over and over.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import tomli_w

from tests.e2e.harness import wait_for
from waldur_site_agent_actors.agent import status
from waldur_site_agent_actors.simulators.waldur import WaldurSimulator

ROOT = Path(__file__).resolve().parents[2]


def received_until(listener: socket.socket, wanted: bytes, count: int) -> list[bytes]:
    """Every datagram up to the `count`-th `wanted` one (each within 20 s of the last)."""
    received: list[bytes] = []
    listener.settimeout(20)
    while received.count(wanted) < count:
        received.append(listener.recv(256))
    return received


def failed(state_dir: Path) -> bool:
    try:
        current, _ = status.read(str(state_dir))
    except FileNotFoundError:
        return False
    return [o.state for o in current.offerings] == ["FAILED"] and not current.healthy


def running(state_dir: Path) -> bool:
    current, _ = status.read(str(state_dir))
    return [o.state for o in current.offerings] == ["RUNNING"] and current.healthy


def test_watchdog_pings_go_on_while_an_offering_is_failed_and_a_reload_brings_it_back(tmp_path):
    address = str(tmp_path / "notify")
    config = tmp_path / "agent.toml"
    with (
        WaldurSimulator(tick_interval=0) as sim,
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener,
    ):
        offering = {
            "name": "hpc",
            "waldur_api_url": sim.api_url,
            "waldur_api_token": sim.provider_token,
            "waldur_offering_uuid": sim.summary()["offerings"][0]["uuid"],
            "backend_type": "demo",
            # The demo backend cannot create its file here: the offering fails at start.
            "backend_settings": {"path": "/proc/no-such-dir/demo.sqlite"},
        }
        document = {
            "state_dir": str(tmp_path / "state"),
            "supervision": {"max_restarts": 0},
            "offerings": [offering],
        }
        config.write_text(tomli_w.dumps(document))
        listener.bind(address)
        env = {**os.environ, "NOTIFY_SOCKET": address, "WATCHDOG_USEC": "1000000"}
        with (tmp_path / "agent.log").open("wb") as log:
            agent = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "waldur_site_agent_actors.agent.cli",
                    "run",
                    "-c",
                    str(config),
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=log,
            )
        try:
            listener.settimeout(20)
            assert listener.recv(256).startswith(b"STATUS=")
            assert listener.recv(256) == b"READY=1"
            wait_for(lambda: failed(tmp_path / "state"), what="the offering FAILED")
            received_until(listener, b"WATCHDOG=1", 3)  # FAILED, and the pings go on
            assert failed(tmp_path / "state")
            offering["backend_settings"] = {"path": str(tmp_path / "demo.sqlite")}
            config.write_text(tomli_w.dumps(document))
            agent.send_signal(signal.SIGHUP)
            wait_for(lambda: running(tmp_path / "state"), what="the offering RUNNING again")
            received_until(listener, b"WATCHDOG=1", 1)
        finally:
            agent.send_signal(signal.SIGTERM)
            assert agent.wait(timeout=30) == 0
