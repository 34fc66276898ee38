"""The flags of `waldur-site-agent init`; the command itself is agent/init.py.

Apart so that building the CLI parser imports nothing heavy: every command starts fast.
"""

from __future__ import annotations

import argparse
from typing import Any

CONFIG_DIR = "/etc/waldur-site-agent"


def add_init_parser(commands: Any) -> argparse.ArgumentParser:
    init = commands.add_parser(
        "init",
        help="write a config interactively (or from flags) and check it against Waldur",
        description=(
            "Asks for the Waldur URL and token, the offering, the backend plugin, its settings "
            "and the offering's components, checks Waldur and the backend, then writes the "
            "config (mode 600). Every question has a flag; with --non-interactive nothing is "
            "asked and a missing required answer is an error."
        ),
    )
    init.add_argument(
        "-o", "--output", help=f"file to write; default {CONFIG_DIR}/config.toml (or .yaml)"
    )
    init.add_argument("--format", choices=("toml", "yaml"), help="default: from the file name")
    init.add_argument("--url", help="Waldur API URL, e.g. https://waldur.example.org/api/")
    token = init.add_mutually_exclusive_group()
    token.add_argument("--token", help="service provider's API token (visible to `ps`)")
    token.add_argument("--token-file", help="read the token from this file ('-': stdin)")
    init.add_argument("--offering", help="offering UUID or exact name")
    init.add_argument("--name", help="offering name in the config; default: its Waldur name")
    init.add_argument("--backend", help="backend plugin (entry-point name)")
    init.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help='a backend setting (repeatable); TOML values: 42, true, ["a", "b"]',
    )
    init.add_argument(
        "--components",
        help="comma-separated component types to serve; default: every backend-accounted one",
    )
    init.add_argument(
        "--unit-factor",
        action="append",
        default=[],
        metavar="TYPE=NUMBER",
        help="backend units per Waldur unit of a component (repeatable); default 1",
    )
    init.add_argument("--state-dir", help="the agent's state directory, if not the default")
    init.add_argument("--insecure", action="store_true", help="do not verify Waldur's TLS")
    init.add_argument(
        "--no-backend-check",
        action="store_true",
        help="skip the backend's ping and diagnostics (Waldur is always checked)",
    )
    init.add_argument(
        "--owner",
        help="chown the file to this user; default: waldur-site-agent when root writes into "
        f"{CONFIG_DIR}",
    )
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    init.add_argument(
        "-n", "--non-interactive", action="store_true", help="ask nothing: flags and defaults"
    )
    return init
