"""Write the `mam-*` stand-in executables into a directory.

`python -m waldur_site_agent_actors.simulators.moab install DIR` runs this.

Each script runs Python with `-I -S` (no site-packages, no environment) and only the agent's
folder on its path: the stand-in needs nothing else, and a command starts in a few tens of
milliseconds.
"""

from __future__ import annotations

import sys
from pathlib import Path

import waldur_site_agent_actors
from waldur_site_agent_actors.simulators.moab.commands import COMMANDS, DB_VARIABLE

# The folder holding the namespace package: the checkout, or site-packages once installed.
ROOT = Path(waldur_site_agent_actors.__file__).parent.parent

SCRIPT = """#!{python} -IS
import os, sys
sys.path.insert(0, {root!r})
os.environ.setdefault({variable!r}, {db!r})
from waldur_site_agent_actors.simulators.moab.commands import main
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
                root=str(ROOT),
                variable=DB_VARIABLE,
                db=str(Path(db).resolve()),
                command=command,
            )
        )
        path.chmod(0o755)
    return directory
