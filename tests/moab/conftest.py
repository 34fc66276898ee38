import contextlib
import io
import os
import subprocess

import pytest

from waldur_site_agent_actors.simulators.moab.commands import DB_VARIABLE, main
from waldur_site_agent_actors.simulators.moab.install import install


class Mam:
    """The `mam-*` stand-ins installed in a temporary directory (first on PATH for the tests that
    run the backend); `run` calls a command in-process, which prints and exits the same."""

    def __init__(self, tmp_path):
        self.db = tmp_path / "mam.sqlite"
        self.bin = install(tmp_path / "mam-bin", self.db)

    def run(self, *argv: str) -> subprocess.CompletedProcess:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv[0], argv[1:])
        return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())

    def ok(self, *argv: str) -> str:
        done = self.run(*argv)
        assert done.returncode == 0, done.stderr
        return done.stdout


@pytest.fixture
def mam(tmp_path, monkeypatch):
    standin = Mam(tmp_path)
    monkeypatch.setenv(DB_VARIABLE, str(standin.db))
    monkeypatch.setenv("PATH", f"{standin.bin}{os.pathsep}{os.environ['PATH']}")
    return standin
