"""The `test-order` command line, apart from agent/order_check.py so `--help` stays cheap."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(commands: Any, with_config: Any) -> None:
    sub = commands.add_parser(
        "test-order",
        help="check an order from a template or a file (upstream's waldur_site_test_order)",
        description="Checks an order (a template filled with --var, or a JSON file) as "
        "upstream's harness does and, with a config, against the offering; "
        "--use-real-backend also pings the offering's order backend. Sends nothing to Waldur.",
    )
    with_config(sub)
    sub.add_argument("--config", dest="config_file", help=argparse.SUPPRESS)  # upstream's name
    sub.add_argument("--template-dir", help="templates in this directory, not the built-in ones")
    source = sub.add_mutually_exclusive_group()
    source.add_argument("--template", help="the template to fill (see --list-templates)")
    source.add_argument("--order-file", help="a JSON file holding the order")
    sub.add_argument(
        "--var", action="append", dest="variables", metavar="NAME=VALUE", help="repeatable"
    )
    sub.add_argument("--offering-uuid", help="the config's offering to check against")
    sub.add_argument("--validate-only", action="store_true", help="check the order alone")
    sub.add_argument("--generate-only", action="store_true", help="print the filled template")
    sub.add_argument("--dry-run", action="store_true", help="do not touch the backend (default)")
    sub.add_argument(
        "--use-real-backend", action="store_true", help="build the offering's plugin and ping it"
    )
    sub.add_argument("-o", "--output", help="write the generated order here")
    sub.add_argument("--verbose", action="store_true", help="list the backend operations too")
    sub.add_argument("--json-output", action="store_true", help="the result as JSON")
    sub.add_argument("--list-templates", action="store_true", help="list templates and exit")
