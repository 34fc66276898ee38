"""A stand-in for Moab Accounting Manager's command-line clients (`mam-*`), state in SQLite.

MAM is commercial and cannot run here. `install(directory, db)` writes one small executable per
`mam-*` command into `directory`; put it first on PATH and the `moab` backend (or an operator)
runs them exactly as it would run the real clients. Every process shares the SQLite file named by
`MAM_SIM_DB` (the path given to `install` unless the variable is set).

    python -m simulators.moab install /tmp/mam-bin --db /tmp/mam.sqlite
    PATH=/tmp/mam-bin:$PATH mam-list-accounts
"""

from __future__ import annotations

import sys
from pathlib import Path

from simulators.moab.commands import COMMANDS, DB_VARIABLE

SCRIPT = """#!{python}
import os, sys
os.environ.setdefault({variable!r}, {db!r})
from simulators.moab.commands import main
sys.exit(main({command!r}, sys.argv[1:]))
"""


def install(directory: str | Path, db: str | Path) -> Path:
    """Write the `mam-*` executables into `directory`; returns it."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for command in COMMANDS:
        path = directory / command
        path.write_text(
            SCRIPT.format(
                python=sys.executable,
                variable=DB_VARIABLE,
                db=str(Path(db).resolve()),
                command=command,
            )
        )
        path.chmod(0o755)
    return directory


__all__ = ["COMMANDS", "DB_VARIABLE", "install"]
