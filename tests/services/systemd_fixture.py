"""The session-scoped `container` fixture: a booted Debian 12 from `tests/services/systemd`.

Tests using it are marked `@pytest.mark.systemd`. The fixture runs `tests/services/systemd up`
(installs debootstrap and systemd-container if needed, builds the cached root file system the
first time, ~60 s; boots an ephemeral copy, ~5 s; reuses a running container) and powers the
container off at the end if this session booted it.

When the script fails, the fixture fails with its output under CI (`CI` set to a true value);
locally it skips with that output as the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.ci import unavailable

SCRIPT = Path(__file__).resolve().parent / "systemd"
PREFIX = "WALDUR_TEST_SYSTEMD_"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass
class Container:
    """The booted container: commands run inside as root, files handed in, units inspected."""

    pid: str
    shared: Path  # on this machine; bound read-only inside at `shared_inside`
    shared_inside: str

    def run(
        self, *argv: str, check: bool = True, input: str | None = None, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        """`argv` inside, with a clean environment (nsenter would pass ours on)."""
        done = subprocess.run(
            ["nsenter", "-t", self.pid, "-a", "env", "-i", f"PATH={PATH}", "LANG=C.UTF-8", *argv],
            capture_output=True,
            text=True,
            input=input,
            timeout=timeout,
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"in the container: {' '.join(argv)}: exit {done.returncode}\n"
                f"{done.stdout}\n{done.stderr}"
            )
        return done

    def write(self, path: str, text: str, mode: str = "644", owner: str = "root") -> None:
        options = ["-D", "-m", mode, "-o", owner, "-g", owner]
        self.run("install", *options, "/dev/stdin", path, input=text)

    def read(self, path: str) -> str:
        return self.run("cat", path).stdout

    def hand_in(self, path: Path) -> str:
        """A copy of a file of this machine, readable inside; returns its path there."""
        folder = self.shared / "systemd" / "files"
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{uuid.uuid4().hex[:8]}-{path.name}"
        shutil.copy(path, folder / name)
        return f"{self.shared_inside}/systemd/files/{name}"

    def show(self, unit: str, *properties: str) -> dict[str, str]:
        out = self.run("systemctl", "show", unit, "-p", ",".join(properties)).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def journal(self, unit: str, *args: str) -> str:
        return self.run("journalctl", "-u", unit, "--no-pager", *args, check=False).stdout


def parse_env(text: str) -> dict[str, str]:
    return dict(line.strip().split("=", 1) for line in text.splitlines() if line.startswith(PREFIX))


@pytest.fixture(scope="session")
def container() -> Iterator[Container]:
    if os.geteuid() != 0:
        message = "the systemd suite boots a container: it needs root"
        unavailable(message)
    try:
        up = subprocess.run([str(SCRIPT), "up"], capture_output=True, text=True, timeout=1200)
        failure = "" if up.returncode == 0 else f"exit {up.returncode}"
        output = f"{up.stdout}{up.stderr}"
    except subprocess.TimeoutExpired as exc:
        failure, output = "timed out", str(exc.stdout or "") + str(exc.stderr or "")
    if failure:
        message = f"tests/services/systemd up failed ({failure}):\n{output}"
        unavailable(message)
    env = parse_env(up.stdout)
    yield Container(
        pid=env[PREFIX + "PID"],
        shared=Path(env[PREFIX + "SHARED"]),
        shared_inside=env[PREFIX + "SHARED_INSIDE"],
    )
    shutil.rmtree(Path(env[PREFIX + "SHARED"]) / "systemd" / "files", ignore_errors=True)
    if env.get(PREFIX + "STARTED") == "1":
        subprocess.run([str(SCRIPT), "down"], capture_output=True, timeout=120)
