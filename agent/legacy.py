"""`waldur_site_agent -m MODE -c FILE`: upstream's command line, one mode per invocation."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from waldur_site_agent_actors.agent.cli import EXIT_CONFIG, MODE_NAMES, cmd_run


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="waldur_site_agent")
    parser.add_argument("-m", "--mode", choices=MODE_NAMES, default="order_process")
    parser.add_argument("-c", "--config-file", default="waldur-site-agent-config.yaml")
    args = parser.parse_args(argv)
    namespace = argparse.Namespace(config_file=args.config_file, strict=False, mode=[args.mode])
    try:
        return cmd_run(namespace)
    except KeyboardInterrupt:
        return EXIT_CONFIG


if __name__ == "__main__":
    sys.exit(main())
