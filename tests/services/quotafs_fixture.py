"""The session-scoped `quotafs` fixture: a real loop-mounted XFS from `tests/services/quotafs`.

Its stand-ins (`lfs` always, `xfs_quota` where the kernel lacks XFS quotas, the CephFS xattr
wrappers) go first on PATH for the session, so the agent's commands find them as they would find
the real tools. The filesystem is unmounted at the end only if this session mounted it. Needs
root; without it the tests skip locally and fail under CI.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.ci import unavailable

SCRIPT = Path(__file__).resolve().parent / "quotafs"


@dataclass
class QuotaFs:
    mount: Path
    bin: Path
    xfs_quota: str  # "kernel" or "stand-in"

    def state(self, name: str) -> dict:
        """What a stand-in recorded (`lfs-quotas.json`, `xfs-quotas.json`)."""
        import json

        path = self.bin.parent / name
        return json.loads(path.read_text()) if path.exists() else {}


@pytest.fixture(scope="session")
def quotafs():
    was_mounted = subprocess.run([str(SCRIPT), "status"], capture_output=True).returncode == 0
    run = subprocess.run([str(SCRIPT), "up"], capture_output=True, text=True, timeout=600)
    if run.returncode != 0:
        message = f"tests/services/quotafs up failed:\n{run.stdout}{run.stderr}"
        unavailable(message)
    env = dict(line.split("=", 1) for line in run.stdout.splitlines() if "=" in line)
    fs = QuotaFs(
        Path(env["WALDUR_TEST_QUOTAFS_MOUNT"]),
        Path(env["WALDUR_TEST_QUOTAFS_BIN"]),
        env["WALDUR_TEST_QUOTAFS_XFS_QUOTA"],
    )
    previous = os.environ["PATH"]
    os.environ["PATH"] = f"{fs.bin}:{previous}"  # agent processes started by tests inherit it
    try:
        yield fs
    finally:
        os.environ["PATH"] = previous
        if not was_mounted:
            subprocess.run([str(SCRIPT), "down"], capture_output=True, timeout=120)
