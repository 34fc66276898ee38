"""The unit's watchdog contract: the agent pings only while no offering is FAILED.

systemd restarts the service when the pings stop (WatchdogSec=), so a given-up offering
escalates to a restart of the whole agent, as OTP escalates past a supervisor's intensity;
a reload that fixes the cause brings the pings back first.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import tomli_w

from tests.e2e.harness import wait_for
from waldur_site_agent_actors.agent import status
from waldur_site_agent_actors.simulators.waldur import WaldurSimulator

ROOT = Path(__file__).resolve().parents[2]


def messages_within(listener: socket.socket, seconds: float) -> list[bytes]:
    """The datagrams of `seconds`, but the STATUS= summaries."""
    received, deadline = [], time.monotonic() + seconds
    while (remaining := deadline - time.monotonic()) > 0:
        listener.settimeout(remaining)
        try:
            message = listener.recv(256)
        except TimeoutError:
            break
        if not message.startswith(b"STATUS="):
            received.append(message)
    return received


def failed(state_dir: Path) -> bool:
    try:
        current, _ = status.read(str(state_dir))
    except FileNotFoundError:
        return False
    return [o.state for o in current.offerings] == ["FAILED"] and not current.healthy


def test_no_watchdog_ping_while_an_offering_is_failed_and_pings_again_after_reload(tmp_path):
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
            messages_within(listener, 0.6)  # a ping sent while the offering was still STARTING
            # Healthy, it would ping every 0.5 s; FAILED, it stays silent.
            assert messages_within(listener, 2.5) == []
            offering["backend_settings"] = {"path": str(tmp_path / "demo.sqlite")}
            config.write_text(tomli_w.dumps(document))
            agent.send_signal(signal.SIGHUP)
            after = messages_within(listener, 3.0)
            assert after[:2] == [b"RELOADING=1", b"READY=1"], after
            assert after.count(b"WATCHDOG=1") >= 3, after
        finally:
            agent.send_signal(signal.SIGTERM)
            assert agent.wait(timeout=30) == 0
