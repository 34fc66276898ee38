"""A venv as a site would have it after adding upstream plugins to this agent: the agent (this
checkout, editable), then upstream's core and published plugins at the PyPI versions pinned
here, then the guide's plugin. Built once per change of what goes in it, under `.cache/`.

Installed in that order, upstream's core replaces the console scripts the two share, as it would
on a site: what the tests check is that the agent's own commands and modules still run.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GUIDE_PLUGIN = Path(__file__).parent / "guide_plugin"
UPSTREAM = [
    "waldur-site-agent==1.0.7",
    "waldur-site-agent-mup==1.0.7",
    "waldur-site-agent-moab==1.0.7",
    "waldur-site-agent-slurm==1.0.7",
    "waldur-site-agent-waldur==1.0.7",
    "waldur-site-agent-basic-username-management==1.0.7",
    "waldur-site-agent-ceph-s3==1.0.7",
]


def stamp() -> str:
    digest = hashlib.sha256("\n".join(UPSTREAM).encode())
    for path in (ROOT / "pyproject.toml", GUIDE_PLUGIN / "pyproject.toml"):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def pip(venv: Path, *args: str) -> None:
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=900,
    )


def upstream_venv() -> Path:
    """The venv's directory, built if missing; one builder at a time (a lock file)."""
    cache = ROOT / ".cache"
    cache.mkdir(exist_ok=True)
    venv = cache / f"upstream-plugins-{stamp()}"
    with open(cache / "upstream-plugins.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ready = venv / ".ready"
        if not ready.exists():
            for stale in cache.glob("upstream-plugins-*"):
                if stale.is_dir() and stale != venv:
                    shutil.rmtree(stale)
            subprocess.run(
                [sys.executable, "-m", "venv", "--clear", str(venv)], check=True, timeout=300
            )
            pip(venv, "-e", str(ROOT))
            pip(venv, *UPSTREAM)
            pip(venv, "-e", str(GUIDE_PLUGIN))
            ready.touch()
    return venv


def environment(venv: Path, **extra: str) -> dict[str, str]:
    """The environment the venv's programs run in: its bin first on PATH."""
    path = f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**os.environ, "PATH": path, **extra}
