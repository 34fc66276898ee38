"""One namespace: the wheel `pip install` installs holds only `waldur_site_agent_actors` (the
code folders under it, `simulators` included), nothing generic at the top of site-packages. And
the checkout works without being installed: with only the repository on PYTHONPATH, the agent
imports from `waldur_site_agent_actors/` and `pytest tests/actors` runs, its folder never
shadowing the `actors` package (importlib import mode)."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_installs_one_namespace_and_nothing_generic(tmp_path):
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top == {"waldur_site_agent_actors"}
    inside = {name.split("/")[1] for name in names if name.count("/") > 1}
    assert inside == {"agent", "actors", "backends", "config", "simulators"}


def bare_python(tmp_path: Path) -> Path:
    """A venv that sees this one's dependencies (pytest, pykka, msgspec, ...) but not the agent:
    the dependencies' folder is on its path without its `.pth` files being run, and the editable
    install of the agent is one of those."""
    venv = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site = venv / "lib" / version / "site-packages"
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv / "bin" / "python"


def test_actor_tests_run_with_the_checkout_only_on_pythonpath(tmp_path):
    python = bare_python(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    probe = ["-c", "import waldur_site_agent_actors as a; print(a.__file__)"]
    absent = subprocess.run([python, *probe], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert "No module named 'waldur_site_agent_actors'" in absent.stderr, absent.stdout

    env["PYTHONPATH"] = str(ROOT)
    found = subprocess.run([python, *probe], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert found.stdout.strip() == str(ROOT / "waldur_site_agent_actors" / "__init__.py")
    tests = subprocess.run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/actors"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=600,
    )
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    assert " passed" in tests.stdout
