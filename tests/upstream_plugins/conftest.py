"""Upstream plugins under this agent: the venv holding them (venv.py), built once and cached."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.ci import unavailable
from tests.upstream_plugins.venv import upstream_venv


@pytest.fixture(scope="session")
def venv() -> Path:
    try:
        return upstream_venv()
    except (subprocess.SubprocessError, OSError) as exc:
        detail = getattr(exc, "stderr", "") or ""
        unavailable(f"the upstream plugins' venv cannot be built: {exc} {detail[-2000:]}")


@pytest.fixture(scope="session")
def python(venv: Path) -> str:
    return str(venv / "bin" / "python")
