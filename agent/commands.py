"""The operator's commands by name: `python -m waldur_site_agent_actors.agent.commands NAME ...`.

A venv's console scripts belong to whichever package was installed last, and upstream's core
(which every upstream plugin pulls in) installs scripts named as upstream's commands are. The
package's `/usr/bin` wrappers run this module instead, so those names stay the agent's whatever
the venv holds (docs/plugins.md, "Commands").
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from waldur_site_agent_actors.agent import site_tools

COMMANDS: dict[str, tuple[str, str]] = {
    "waldur-site-agent": ("waldur_site_agent_actors.agent.cli", "main"),
    "waldur_site_agent": ("waldur_site_agent_actors.agent.legacy", "main"),
    "waldur_site_load_components": (site_tools.__name__, "legacy_load_components"),
    "waldur_site_create_homedirs": (site_tools.__name__, "legacy_create_homedirs"),
    "waldur_sync_resource_limits": (site_tools.__name__, "legacy_sync_resource_limits"),
    "waldur_site_load_historical_usage": (site_tools.__name__, "legacy_load_historical_usage"),
    "waldur_site_diagnose_slurm_account": (site_tools.__name__, "legacy_diagnose_slurm_account"),
    "waldur_sync_offering_users": (site_tools.__name__, "legacy_sync_offering_users"),
    "waldur_site_diagnostics": (site_tools.__name__, "legacy_diagnostics"),
    "waldur_site_healthz": (site_tools.__name__, "legacy_healthz"),
    "waldur_site_test_order": (site_tools.__name__, "legacy_test_order"),
}


def command(name: str) -> Callable[[Sequence[str] | None], int]:
    module, function = COMMANDS[name]
    __import__(module)
    found: Callable[[Sequence[str] | None], int] = getattr(sys.modules[module], function)
    return found


def taken_by_upstream() -> list[Path]:
    """The command names on PATH whose script runs upstream's core instead of this agent: pip
    gave them to upstream's `waldur-site-agent`, installed after this agent (a service or a
    cron line calling one would run upstream's agent)."""
    taken = []
    for name in COMMANDS:
        found = None if name == "waldur-site-agent" else shutil.which(name)
        if found is None:
            continue
        try:
            with open(found, "rb") as script:
                head = script.read(4096)
        except OSError:
            continue
        if b"from waldur_site_agent." in head and b"waldur_site_agent_actors" not in head:
            taken.append(Path(found))
    return taken


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--names"]:
        print("\n".join(COMMANDS))
        return 0
    if not args or args[0] not in COMMANDS:
        print(
            f"usage: commands NAME [ARGS...]; NAME one of: {', '.join(COMMANDS)}", file=sys.stderr
        )
        return 2
    return command(args[0])(args[1:])


if __name__ == "__main__":
    sys.exit(main())
