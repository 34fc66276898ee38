"""The status file: the running service rewrites it every few seconds; `status` reads it.

A file rather than a socket: readable by any operator tool (`cat`, monitoring agents), and it
still tells the truth after the service died (its pid is gone, its age grows).
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from waldur_site_agent_actors.actors.status import AgentStatus

FILE_NAME = "status.json"
STALE_AFTER = 30.0


def status_path(state_dir: str) -> Path:
    return Path(state_dir) / FILE_NAME


def write(state_dir: str, status: AgentStatus) -> None:
    path = status_path(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_bytes(msgspec.json.encode(status))
    os.replace(temporary, path)


def read(state_dir: str) -> tuple[AgentStatus, float]:
    """The last status written and its age in seconds."""
    path = status_path(state_dir)
    return msgspec.json.decode(
        path.read_bytes(), type=AgentStatus
    ), time.time() - path.stat().st_mtime


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "never"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def render(status: AgentStatus, age: float) -> str:
    alive = pid_alive(status.pid)
    state = "running" if alive and age < STALE_AFTER else ("stale" if alive else "not running")
    lines = [
        f"agent pid {status.pid}: {state}, version {status.version}, "
        f"{'healthy' if status.healthy else 'UNHEALTHY'} (status written {age:.0f} s ago)"
    ]
    for offering in status.offerings:
        lines.append(
            f"  {offering.name} [{offering.uuid}]: {offering.state}, restarts {offering.restarts}"
        )
        if offering.last_error:
            lines.append(f"    last error: {offering.last_error}")
        for mode, mode_status in sorted(offering.modes.items()):
            lines.append(
                f"    {mode}: last cycle {_when(mode_status.last_cycle_at)}, "
                f"{mode_status.cycles} cycle(s), {mode_status.errors} with errors"
                + (f"; {mode_status.last_summary}" if mode_status.last_summary else "")
            )
            if mode_status.last_error:
                lines.append(f"      last error: {mode_status.last_error}")
    return "\n".join(lines)
