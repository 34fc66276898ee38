"""Put the `mam-*` stand-ins into DIR.

`python -m waldur_site_agent_actors.simulators.moab install DIR [--db FILE]`
"""

from __future__ import annotations

import argparse
from pathlib import Path

from waldur_site_agent_actors.simulators.moab.install import install


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m waldur_site_agent_actors.simulators.moab")
    commands = parser.add_subparsers(dest="command", required=True)
    setup = commands.add_parser("install", help="write the mam-* executables into a directory")
    setup.add_argument("directory", type=Path)
    setup.add_argument("--db", type=Path, help="state file (default: DIR/mam.sqlite)")
    args = parser.parse_args()
    directory = install(args.directory, args.db or args.directory / "mam.sqlite")
    print(f"mam-* stand-ins in {directory}; run: export PATH={directory}:$PATH")


if __name__ == "__main__":
    main()
