"""`waldur-site-agent`: the command line. Starts fast: commands import what they need, when run.

Exit codes: 0 ok, 2 configuration errors, 1 runtime failure.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from waldur_site_agent_actors.agent import order_check_args, site_tools
from waldur_site_agent_actors.agent.init_args import CONFIG_DIR, add_init_parser

if TYPE_CHECKING:
    from waldur_site_agent_actors.config import Loaded

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2


def default_config() -> str:
    """The packaged service's `config.toml` (what `init` writes), else upstream's `config.yaml`."""
    toml = Path(CONFIG_DIR) / "config.toml"
    return str(toml if toml.exists() else Path(CONFIG_DIR) / "config.yaml")


MODE_NAMES = ("order_process", "report", "membership_sync", "event_process")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="waldur-site-agent",
        description="Connects HPC and storage backends to the Waldur marketplace.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def with_config(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("-c", "--config-file", default=default_config(), help="YAML or TOML file")
        sub.add_argument("--strict", action="store_true", help="unknown keys are errors")

    run = commands.add_parser("run", help="run the agent service")
    with_config(run)
    run.add_argument(
        "-m",
        "--mode",
        action="append",
        choices=MODE_NAMES,
        help="run only these modes (repeatable); default: all the config enables",
    )

    validate = commands.add_parser("validate", help="check a config file and exit")
    with_config(validate)

    config_cmd = commands.add_parser("config", help="configuration tools")
    config_sub = config_cmd.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    show = config_sub.add_parser("show", help="print the loaded config (secrets masked)")
    with_config(show)
    show.add_argument("--format", choices=("toml", "yaml"), default="yaml")

    diagnostics = commands.add_parser("diagnostics", help="check Waldur and backend connectivity")
    with_config(diagnostics)

    add_init_parser(commands)
    site_tools.add_parsers(commands, with_config)
    order_check_args.add_parser(commands, with_config)

    reload = commands.add_parser(
        "reload", help="check the config, make the running agent re-read it, wait for its verdict"
    )
    with_config(reload)
    reload.add_argument("--pid", type=int, help="the agent's pid; default: its status file's")
    reload.add_argument(
        "--timeout", type=float, default=110.0, help="seconds to wait for the verdict"
    )

    status = commands.add_parser("status", help="show the running agent's offerings and modes")
    status.add_argument(
        "-c",
        "--config-file",
        default=default_config(),
        help="config whose state_dir holds the status file, when the service's runtime "
        "directory holds none",
    )
    status.add_argument("--state-dir", help="read the status file from this directory instead")
    status.add_argument("--json", action="store_true", help="print the raw status as JSON")

    healthz = commands.add_parser(
        "healthz",
        help="liveness and readiness probe for containers (upstream's waldur_site_healthz)",
        description="Exit 0 when the running agent is alive (its status file is fresh, its "
        "process alive, no offering FAILED) and, unless --liveness-only, Waldur answers.",
    )
    healthz.add_argument("-c", "--config-file", default=default_config(), help="YAML or TOML file")
    healthz.add_argument(
        "--max-age",
        type=float,
        default=300,
        help="seconds the agent's status may be old and still count as alive (default 300)",
    )
    healthz.add_argument(
        "--liveness-only", action="store_true", help="do not ask Waldur (the liveness probe)"
    )

    simulator = commands.add_parser("simulator", help="run the Waldur simulator (tests, demo)")
    simulator.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1; 0 = any")
    simulator.add_argument("--seed", help="scenario file (TOML/YAML/JSON); default: built-in")
    simulator.add_argument("--state", help="SQLite file keeping the state across restarts")
    simulator.add_argument(
        "--broker",
        action="store_true",
        help="publish events to the RabbitMQ named by WALDUR_TEST_RABBITMQ_* variables",
    )

    demo = commands.add_parser(
        "demo", help="the agent at work: simulator, demo backend, orders and team changes"
    )
    demo.add_argument("--state-dir", help="keep config, log and backend here; default: a temp dir")
    demo.add_argument(
        "--serve", action="store_true", help="keep everything running after the scenario"
    )
    demo.add_argument(
        "--events",
        action="store_true",
        help="event_process over the RabbitMQ of `tests/services/rabbitmq up`",
    )
    demo.add_argument(
        "--timeout", type=float, default=60.0, help="seconds the scenario may take (default 60)"
    )

    commands.add_parser("version", help="print the version")
    return parser


@functools.cache
def version() -> str:
    """This distribution's version, read once: the running code does not change under us."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("waldur-site-agent-actors")
    except PackageNotFoundError:
        return "unknown"


def load_or_report(path: str, strict: bool) -> Loaded | None:
    """The loaded config, or None after printing every error."""
    from waldur_site_agent_actors.config import ConfigError, load_file

    try:
        loaded = load_file(path, strict=strict)
    except ConfigError as exc:
        for warning in exc.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        print(f"{exc.source}: {len(exc.errors)} error(s):", file=sys.stderr)
        for error in exc.errors:
            print(f"  {error}", file=sys.stderr)
        return None
    for warning in loaded.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return loaded


def cmd_validate(args: argparse.Namespace) -> int:
    loaded = load_or_report(args.config_file, args.strict)
    if loaded is None:
        return EXIT_CONFIG
    # The checks the backend actor applies at start (plugin classes, the upstream adapter's).
    from waldur_site_agent_actors.actors.plugins import problems

    errors = problems(loaded.config)
    if errors:
        print(f"{args.config_file}: {len(errors)} error(s):", file=sys.stderr)
        for error in errors:
            print(f"  {error}", file=sys.stderr)
        return EXIT_CONFIG
    for note in loaded.notes:
        print(f"note: {note}")
    warn_of_commands_taken()
    count = len(loaded.config.offerings)
    print(f"{args.config_file}: OK ({count} offering{'s' if count != 1 else ''})")
    return EXIT_OK


def warn_of_commands_taken() -> None:
    from waldur_site_agent_actors.agent.commands import taken_by_upstream

    by_folder: dict[str, list[str]] = {}
    for path in taken_by_upstream():
        by_folder.setdefault(str(path.parent), []).append(path.name)
    for folder, names in by_folder.items():
        print(
            f"warning: {', '.join(names)} in {folder} run upstream's agent, not this one: pip "
            "gave those names to waldur-site-agent, installed after this agent. Installing this "
            "agent again (`pip install --force-reinstall --no-deps` of its wheel) gives them "
            "back; `waldur-site-agent` is this agent's either way.",
            file=sys.stderr,
        )


def cmd_config_show(args: argparse.Namespace) -> int:
    from waldur_site_agent_actors.config.dump import render

    loaded = load_or_report(args.config_file, args.strict)
    if loaded is None:
        return EXIT_CONFIG
    sys.stdout.write(render(loaded.config, args.format))
    return EXIT_OK


def cmd_diagnostics(args: argparse.Namespace) -> int:
    from waldur_site_agent_actors.agent.diagnostics import run_diagnostics

    loaded = load_or_report(args.config_file, args.strict)
    if loaded is None:
        return EXIT_CONFIG
    return EXIT_OK if run_diagnostics(loaded.config) else EXIT_FAILURE


def cmd_init(args: argparse.Namespace) -> int:
    from waldur_site_agent_actors.agent.init import run_init

    return run_init(args)


def cmd_run(args: argparse.Namespace) -> int:
    loaded = load_or_report(args.config_file, args.strict)
    if loaded is None:
        return EXIT_CONFIG
    from waldur_site_agent_actors.agent.service import run_service

    return run_service(loaded.config, modes=args.mode, config_path=args.config_file)


def cmd_reload(args: argparse.Namespace) -> int:
    from waldur_site_agent_actors.agent.reload import run_reload

    return run_reload(args.config_file, args.strict, args.pid, args.timeout)


def cmd_status(args: argparse.Namespace) -> int:
    from waldur_site_agent_actors.agent import status

    # The packaged service's own file first: it is found whatever the config on disk says.
    state_dir = args.state_dir or status.service_directory()
    if not state_dir:
        loaded = load_or_report(args.config_file, strict=False)
        if loaded is None:
            return EXIT_CONFIG
        state_dir = loaded.config.state_dir
    try:
        current, age = status.read(state_dir)
    except FileNotFoundError:
        print(f"agent not running (no {status.status_path(state_dir)})")
        return EXIT_FAILURE
    if args.json:
        import msgspec

        print(msgspec.json.encode(current).decode())
    else:
        print(status.render(current, age))
    running = status.pid_alive(current.pid) and age < status.STALE_AFTER
    return EXIT_OK if running and current.healthy else EXIT_FAILURE


def cmd_healthz(args: argparse.Namespace) -> int:
    from waldur_site_agent_actors.agent.healthz import run_healthz

    return run_healthz(args)


def cmd_test_order(args: argparse.Namespace) -> int:
    from waldur_site_agent_actors.agent.order_check import run

    return run(args)


def cmd_simulator(args: argparse.Namespace) -> int:
    from waldur_site_agent_actors.simulators.waldur.serve import serve

    return serve(args.port, seed=args.seed, state_file=args.state, broker=args.broker)


def cmd_demo(args: argparse.Namespace) -> int:
    from waldur_site_agent_actors.agent.demo import run_demo

    return run_demo(args.state_dir, serve=args.serve, events=args.events, timeout=args.timeout)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version or args.command == "version":
        print(f"waldur-site-agent {version()}")
        return EXIT_OK
    handlers = {
        "run": cmd_run,
        "validate": cmd_validate,
        "config": cmd_config_show,
        "diagnostics": cmd_diagnostics,
        "init": cmd_init,
        "status": cmd_status,
        "reload": cmd_reload,
        "healthz": cmd_healthz,
        "test-order": cmd_test_order,
        "simulator": cmd_simulator,
        "demo": cmd_demo,
        **site_tools.HANDLERS,
    }
    if args.command not in handlers:
        parser.print_help()
        return EXIT_CONFIG
    try:
        return handlers[args.command](args)
    except KeyboardInterrupt:
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
