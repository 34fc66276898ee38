"""`reload`: check the config file, have the running agent re-read it, and wait for its verdict.

The unit's ExecReload: `systemctl reload` then fails when the file has errors (found here,
before the agent is disturbed) or when the agent itself refused it, and returns once the
agent has the new config in force rather than when the signal was sent.
"""

from __future__ import annotations

import os
import signal
import sys
import time

import msgspec

from waldur_site_agent_actors.agent import status
from waldur_site_agent_actors.agent.cli import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, load_or_report

POLL = 0.2


def run_reload(config_file: str, strict: bool, pid: int | None, timeout: float) -> int:
    loaded = load_or_report(config_file, strict)
    if loaded is None:
        print("reload refused: the running agent keeps its config", file=sys.stderr)
        return EXIT_CONFIG
    directory = status.service_directory() or loaded.config.state_dir
    try:
        current, _ = status.read(directory)
    except FileNotFoundError:
        print(f"agent not running (no {status.status_path(directory)})", file=sys.stderr)
        return EXIT_FAILURE
    pid = pid or current.pid
    seen = current.reload.serial if current.reload and current.pid == pid else 0
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        print(f"agent not running (no process {pid})", file=sys.stderr)
        return EXIT_FAILURE
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(POLL)
        try:
            current, _ = status.read(directory)
        except (FileNotFoundError, msgspec.DecodeError):
            continue  # between two writes, or the agent stopping
        verdict = current.reload
        if current.pid == pid and verdict is not None and verdict.serial > seen:
            print(f"reload {'done' if verdict.ok else 'failed'}: {verdict.message}")
            return EXIT_OK if verdict.ok else EXIT_CONFIG
        if not status.pid_alive(pid):
            print(f"the agent (pid {pid}) exited during the reload", file=sys.stderr)
            return EXIT_FAILURE
    print(f"no verdict from the agent (pid {pid}) within {timeout:g} s", file=sys.stderr)
    return EXIT_FAILURE
