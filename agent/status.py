"""The status file: the running service rewrites it every few seconds; `status` reads it.

A file rather than a socket: readable by any operator tool (`cat`, monitoring agents), and it
still tells the truth after the service died (its pid is gone, its age grows).

Under systemd it lives in the unit's runtime directory, a path fixed by the unit rather than by
the config: `status` and `reload` find the running agent whatever the file on disk says now
(an edited state_dir, or a file a reload just refused). Elsewhere it lives in `state_dir`.
"""

from __future__ import annotations

import collections
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from waldur_site_agent_actors.actors.status import AgentStatus, OfferingStatus

FILE_NAME = "status.json"
STALE_AFTER = 30.0
RUNTIME_DIR = "/run/waldur-site-agent"  # the unit's RuntimeDirectory=
SUMMARY_LENGTH = 200


def status_path(state_dir: str) -> Path:
    return Path(state_dir) / FILE_NAME


def own_directory(state_dir: str) -> str:
    """Where this process writes its status: the runtime directory systemd gave it, if any."""
    runtime = os.environ.get("RUNTIME_DIRECTORY", "")
    return runtime.split(":")[0] if runtime else state_dir


def service_directory() -> str | None:
    """The runtime directory of the packaged service, when its status file is there."""
    for directory in (os.environ.get("RUNTIME_DIRECTORY", "").split(":")[0], RUNTIME_DIR):
        if directory and status_path(directory).exists():
            return directory
    return None


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
    if status.reload is not None:
        lines.append(f"  last reload {_when(status.reload.at)}: {status.reload.message}")
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


def summary(offerings: list[OfferingStatus]) -> str:
    """One line for systemd's STATUS=: offerings per state, and the error most worth reading."""
    counts = collections.Counter(o.state.lower() for o in offerings)
    line = f"{len(offerings)} offering(s): " + (
        ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "none"
    )
    failed = sorted(offerings, key=lambda o: o.state != "FAILED")
    errors = [(o.name, o.last_error) for o in failed if o.last_error]
    errors += [
        (f"{o.name} {mode}", s.last_error)
        for o in offerings
        for mode, s in sorted(o.modes.items(), key=lambda item: -(item[1].last_cycle_at or 0))
        if s.last_error
    ]
    if errors:
        where, error = errors[0]
        line += f"; last error ({where}): {error}"
    line = " ".join(line.split())  # one line whatever the error text holds
    return line if len(line) <= SUMMARY_LENGTH else line[: SUMMARY_LENGTH - 3] + "..."
