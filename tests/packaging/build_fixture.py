"""The packages built once per test session, from the committed tree: `built`.

A plugin of the whole suite (tests/conftest.py) rather than a conftest of tests/packaging, so the
systemd suite (tests/systemd) installs the very same .deb without building it again. Building
needs root and dpkg: without them it skips locally and fails under CI (`CI` set to a true value),
where skipping would hide a broken package.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.ci import unavailable

ROOT = Path(__file__).resolve().parents[2]


def run(*argv: str, check: bool = True, **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=600, **kwargs)  # type: ignore[call-overload]
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(argv)}: exit {result.returncode}\n{result.stdout}\n{result.stderr}"
        )
    return result


def apt_install(*packages: str) -> None:
    """Debian packages the checks need (`rpm` to read the .rpm); lists refreshed only if needed."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ("apt-get", "install", "-y", "-q", *packages)
    if run(*install, check=False, env=env).returncode != 0:
        run("apt-get", "update", "-q", env=env)
        run(*install, env=env)


@dataclass(frozen=True)
class Built:
    deb: Path
    rpm: Path
    version: str


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    if os.geteuid() != 0:
        unavailable("the packaging tests install a package: they need root")
    if shutil.which("dpkg") is None:
        unavailable("the packaging tests need dpkg (a Debian machine)")
    if shutil.which("rpm") is None:
        apt_install("rpm")
    out = tmp_path_factory.mktemp("packages")
    run(str(ROOT / "packaging" / "build"), "--out", str(out), cwd=ROOT)
    (deb,) = out.glob("*.deb")
    (rpm,) = out.glob("*.rpm")
    version = run("dpkg-deb", "-f", str(deb), "Version").stdout.strip()
    return Built(deb=deb, rpm=rpm, version=version)
