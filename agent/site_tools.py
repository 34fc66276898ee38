"""Operator commands that upstream shipped as separate scripts, as `waldur-site-agent` subcommands.

| subcommand               | upstream script (kept as a console script of the same name)    |
|--------------------------|-----------------------------------------------------------------|
| `load-components`        | `waldur_site_load_components`                                   |
| `create-homedirs`        | `waldur_site_create_homedirs`                                   |
| `sync-resource-limits`   | `waldur_sync_resource_limits`                                   |
| `load-historical-usage`  | `waldur_site_load_historical_usage`                             |
| `diagnose-slurm-account` | `waldur_site_diagnose_slurm_account`                            |
| `sync-offering-users`    | `waldur_sync_offering_users`                                    |
| `import-resources`       | none: upstream imports only on Waldur's `importable_resources`  |
|                          | (which `run` answers with `resource_import_enabled`)            |

Upstream's `waldur_site_diagnostics`, `waldur_site_healthz` and `waldur_site_test_order` run the
`diagnostics`, `healthz` and `test-order` commands (agent/cli.py) the same way.

Each one runs once and exits: 0 when everything worked, 1 when something failed (each failure
printed), 2 for a bad config. Heavy imports happen inside the commands, so `--help` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from waldur_site_agent_actors.actors.waldur.client import WaldurClient
    from waldur_site_agent_actors.backends.base import BaseBackend
    from waldur_site_agent_actors.config import AgentConfig, Offering

Handler = Callable[[argparse.Namespace], int]
UPSTREAM_CONFIG = "waldur-site-agent-config.yaml"


def add_parsers(commands: Any, with_config: Callable[[argparse.ArgumentParser], None]) -> None:
    def tool(name: str, text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=text, description=text)
        with_config(sub)
        sub.add_argument(
            "--offering",
            "--offering-uuid",
            "-o",
            dest="offerings",
            action="append",
            metavar="UUID",
            help="only this offering (repeatable); default: every offering of the config",
        )
        return sub

    tool("load-components", "create or update the offering's components in Waldur from the config")
    tool("create-homedirs", "home directories for every OK offering user (backends that do them)")
    tool("sync-resource-limits", "push backend limits to Waldur where they differ")
    history = tool("load-historical-usage", "send usage of past months to Waldur")
    history.add_argument("-s", "--start-date", required=True, type=date.fromisoformat)
    history.add_argument("-e", "--end-date", required=True, type=date.fromisoformat)
    history.add_argument("-t", "--user-token", help="Waldur token to send with (default: config)")
    history.add_argument("--skip-user-usage", action="store_true", help="totals only")
    history.add_argument("--dry-run", action="store_true", help="print, send nothing")
    history.add_argument(
        "--resource-backend-id", action="append", help="only this resource (repeatable)"
    )
    diagnose = tool("diagnose-slurm-account", "everything about one SLURM account, both sides")
    diagnose.add_argument("account")
    diagnose.add_argument("--json", action="store_true", help="machine-readable output")
    tool("sync-offering-users", "usernames for the offering users waiting for one, as a sweep does")
    imports = tool("import-resources", "offer backend accounts Waldur does not know to Waldur")
    imports.add_argument("--dry-run", action="store_true", help="print, send nothing")


# -- plumbing shared by the commands ------------------------------------------------------------


def _load(args: argparse.Namespace) -> AgentConfig | None:
    from waldur_site_agent_actors.agent import process
    from waldur_site_agent_actors.agent.cli import load_or_report

    loaded = load_or_report(args.config_file, args.strict)
    if loaded is None:
        return None
    process.prepare(loaded.config)
    return loaded.config


def _offerings(config: AgentConfig, args: argparse.Namespace) -> list[Offering]:
    wanted = set(args.offerings or [])
    return [o for o in config.offerings if not wanted or o.waldur_offering_uuid in wanted]


def _backend(config: AgentConfig, offering: Offering, role: str) -> BaseBackend | None:
    """The plugin serving `role`, set up as the backend actor sets it up (an upstream plugin
    behind its adapter)."""
    from waldur_site_agent_actors.actors.plugins import make_backend

    name = offering.backend_for(role)  # type: ignore[arg-type]
    if not name:
        return None
    backend: BaseBackend = make_backend(name, offering, config)
    return backend


def _waldur(config: AgentConfig, offering: Offering, token: str | None = None) -> WaldurClient:
    """Through `global_proxy`, as upstream's load-components, create-homedirs and sync tools go
    (here every tool, as the agent itself)."""
    from waldur_site_agent_actors.actors.waldur_actor import client_for

    if token:
        import msgspec

        offering = msgspec.structs.replace(offering, waldur_api_token=token)
    return client_for(offering, config.global_proxy, "waldur-site-agent tools")


def _run(args: argparse.Namespace, each: Callable[[AgentConfig, Offering], bool]) -> int:
    """`each` for every chosen offering; one offering's failure does not stop the others."""
    from waldur_site_agent_actors.agent.cli import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK

    config = _load(args)
    if config is None:
        return EXIT_CONFIG
    offerings = _offerings(config, args)
    if not offerings:
        print("no offering of the config matches", file=sys.stderr)
        return EXIT_CONFIG
    ok = True
    for offering in offerings:
        try:
            ok = each(config, offering) and ok
        except Exception as exc:
            print(f"{offering.name}: FAILED: {exc}")
            ok = False
    return EXIT_OK if ok else EXIT_FAILURE


# -- the commands ---------------------------------------------------------------------------------


def load_components(args: argparse.Namespace) -> int:
    return _run(args, _load_components)


# Config keys forwarded to Waldur as they are (`label` becomes `name`, `limit` `limit_amount`).
_COMPONENT_KEYS = (
    "measured_unit",
    "description",
    "min_value",
    "max_value",
    "max_available_limit",
    "default_limit",
    "limit_period",
    "article_code",
    "is_boolean",
    "is_prepaid",
    "min_prepaid_duration",
    "max_prepaid_duration",
    "prepaid_duration_step",
    "min_renewal_duration",
    "max_renewal_duration",
    "renewal_duration_step",
)


def _load_components(config: AgentConfig, offering: Offering) -> bool:
    from waldur_site_agent_actors.actors.waldur.client import WaldurError, WaldurUnreachable
    from waldur_site_agent_actors.actors.waldur.offerings import Offerings

    client = _waldur(config, offering)
    uuid = offering.waldur_offering_uuid
    existing = {c.type: c for c in Offerings(client).get(uuid).components}
    base = f"marketplace-provider-offerings/{uuid}/"
    ok = True
    for key, component in sorted(offering.backend_components.items()):
        body: dict[str, Any] = {
            "type": key,
            "name": component.label,
            "billing_type": component.accounting_type,
            "limit_amount": component.limit,
        }
        body.update(
            {k: getattr(component, k) for k in _COMPONENT_KEYS if getattr(component, k) is not None}
        )
        if component.accounting_type == "one":
            body.setdefault("is_prepaid", True)  # a one-time price is paid up front, as upstream
        current = existing.get(key)
        try:
            if current is not None:
                if current.limit_period and "limit_period" not in body:
                    body["limit_period"] = current.limit_period  # Waldur's own choice stays
                body["uuid"] = current.uuid
                client.post(f"{base}update_offering_component/", body)
                print(f"{offering.name}: component {key} updated")
            else:
                client.post(f"{base}create_offering_component/", body)
                print(f"{offering.name}: component {key} created")
        except (WaldurError, WaldurUnreachable) as exc:
            print(f"{offering.name}: component {key} FAILED: {exc}")
            ok = False
    return ok


def create_homedirs(args: argparse.Namespace) -> int:
    return _run(args, _create_homedirs)


def _create_homedirs(config: AgentConfig, offering: Offering) -> bool:
    from waldur_site_agent_actors.actors.waldur.offering_users import OfferingUsers

    backend = _backend(config, offering, "order")
    if backend is None or not callable(getattr(backend, "create_user_homedirs", None)):
        print(f"{offering.name}: skipped (its backend does not create home directories)")
        return True
    if not getattr(backend, "homedirs_enabled", True):
        print(f"{offering.name}: skipped (home directories are not enabled in its settings)")
        return True
    users = OfferingUsers(_waldur(config, offering)).of_offering(offering.waldur_offering_uuid)
    names = {u.username for u in users if u.username and u.state == "OK"}
    created = backend.create_user_homedirs(names)  # type: ignore[attr-defined]
    print(f"{offering.name}: {len(names)} user(s), {len(created)} home directory(ies) created")
    return True


def sync_offering_users(args: argparse.Namespace) -> int:
    return _run(args, _sync_offering_users)


def _sync_offering_users(config: AgentConfig, offering: Offering) -> bool:
    """The membership sweep's username step, run once with the actors it runs in."""
    import logging

    import pykka

    from waldur_site_agent_actors.actors.backend import BackendActor, backend_proxy
    from waldur_site_agent_actors.actors.context import OfferingContext
    from waldur_site_agent_actors.actors.offering_child import BACKEND_TIMEOUT
    from waldur_site_agent_actors.actors.timer import Timer
    from waldur_site_agent_actors.actors.usernames import UsernameSync
    from waldur_site_agent_actors.actors.waldur_actor import WaldurActor, api_of

    if not offering.backend_for("membership"):
        print(f"{offering.name}: skipped (no membership backend)")
        return True
    timer = Timer()
    context = OfferingContext(
        offering=offering, root=config, timer=timer, modes=frozenset({"membership_sync"})
    )
    # Stands in for the offering actor: a child that dies is logged as a message it got.
    parent = pykka.ThreadingActor.start()
    backend, waldur = BackendActor.start(context, parent), WaldurActor.start(context, parent)
    try:
        # Answered once the plugins are built: a proxy made after it reaches them.
        backend.proxy().ping().get()
        log = logging.LoggerAdapter(logging.getLogger("tools"), {"offering": offering.name})
        sync = UsernameSync(
            context, backend_proxy(backend), log, lambda future: future.get(timeout=BACKEND_TIMEOUT)
        )
        named = sync.sync(api_of(waldur))
    finally:
        for ref in (waldur, backend, parent):
            ref.stop()
        timer.stop()
    print(f"{offering.name}: {named} offering user(s) given a username")
    return True


def sync_resource_limits(args: argparse.Namespace) -> int:
    return _run(args, _sync_resource_limits)


def _sync_resource_limits(config: AgentConfig, offering: Offering) -> bool:
    import msgspec

    from waldur_site_agent_actors.actors.convert import waldur_resource
    from waldur_site_agent_actors.actors.waldur.resources import Resources
    from waldur_site_agent_actors.backends.base import BaseBackend as NativeBackend

    backend = _backend(config, offering, "membership")
    if backend is None:
        print(f"{offering.name}: skipped (no membership backend)")
        return True
    resources = Resources(_waldur(config, offering))
    changed = 0
    for resource in resources.of_offering(offering.waldur_offering_uuid, ("OK", "Erred")):
        if not resource.backend_id:
            continue
        current = dict(resource.limits or {})
        if isinstance(backend, NativeBackend):
            # The membership cycle's rule: only what the backend owns, compared as numbers.
            taken = backend.limits_from_backend(waldur_resource(resource))
            wanted = None if taken is msgspec.UNSET else taken
        else:  # an upstream plugin: upstream's tool, every limit the backend reports
            backend_limits = backend.get_resource_limits(resource.backend_id)
            differs = any(current.get(k) != v for k, v in backend_limits.items())
            wanted = {**current, **backend_limits} if backend_limits and differs else None
        if wanted is not None:
            resources.set_limits(resource.uuid, wanted)
            print(f"{offering.name}: {resource.backend_id}: {current} -> {wanted}")
            changed += 1
    print(f"{offering.name}: {changed} resource(s) updated")
    return True


def load_historical_usage(args: argparse.Namespace) -> int:
    if args.end_date < args.start_date:
        print("--end-date is before --start-date", file=sys.stderr)
        return 2
    return _run(args, lambda config, offering: _load_history(config, offering, args))


def _months(start: date, end: date) -> list[date]:
    months, month = [], start.replace(day=1)
    while month <= end:
        months.append(month)
        month = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
    return months


def _load_history(config: AgentConfig, offering: Offering, args: argparse.Namespace) -> bool:
    import zoneinfo
    from datetime import datetime

    from waldur_site_agent_actors.actors.waldur.resources import Resources
    from waldur_site_agent_actors.actors.waldur.usages import Usages
    from waldur_site_agent_actors.backends.structures import TOTAL_ACCOUNT_USAGE

    backend = _backend(config, offering, "report")
    if backend is None:
        print(f"{offering.name}: skipped (no reporting backend)")
        return True
    client = _waldur(config, offering, args.user_token)
    usages = Usages(client)
    resources = [
        r
        for r in Resources(client).of_offering(offering.waldur_offering_uuid, ("OK", "Erred"))
        if r.backend_id
        and (not args.resource_backend_id or r.backend_id in args.resource_backend_id)
    ]
    components = set(offering.backend_components)
    zone = zoneinfo.ZoneInfo(config.timezone)
    for month in _months(args.start_date, args.end_date):
        ids = [r.backend_id for r in resources if r.backend_id]
        report = backend.get_usage_report_for_period(ids, month.year, month.month)
        stamp = datetime(month.year, month.month, 1, tzinfo=zone).isoformat()
        for resource in resources:
            usage = report.get(resource.backend_id or "") or {}
            totals = {
                k: round(float(v), 2)
                for k, v in usage.get(TOTAL_ACCOUNT_USAGE, {}).items()
                if k in components
            }
            if not any(totals.values()):
                continue
            print(f"{offering.name}: {month:%Y-%m} {resource.backend_id}: {totals}")
            if args.dry_run:
                continue
            usages.set_usage(resource.uuid, stamp, totals)
            per_user = {u: a for u, a in usage.items() if u != TOTAL_ACCOUNT_USAGE}
            if args.skip_user_usage or not per_user:
                continue
            for row in usages.of_month(resource.uuid, month.isoformat()):
                if row.type in totals:
                    usages.set_user_usages(
                        row.uuid,
                        stamp,
                        {user: float(a.get(row.type, 0)) for user, a in per_user.items()},
                    )
    return True


def diagnose_slurm_account(args: argparse.Namespace) -> int:
    def one(config: AgentConfig, offering: Offering) -> bool:
        return _diagnose(config, offering, args)

    return _run(args, one)


def _diagnose(config: AgentConfig, offering: Offering, args: argparse.Namespace) -> bool:
    from waldur_site_agent_actors.actors.waldur.models import Resource
    from waldur_site_agent_actors.backends.slurm import naming
    from waldur_site_agent_actors.backends.slurm.backend import SlurmBackend

    backend = _backend(config, offering, "order")
    if not isinstance(backend, SlurmBackend):
        return True  # not a SLURM offering: nothing to say about a SLURM account
    account = naming.account(args.account)
    client = backend.client
    rows = client.associations(account=account)
    own = next((r for r in rows if not r.user), None)
    found: dict[str, Any] = {
        "offering": offering.name,
        "account": account,
        "exists": own is not None,
    }
    if own is not None:
        path, parent = [account], own.parent
        while parent and len(path) < 10:
            path.append(parent)
            row = client.account_row(parent)
            parent = row.parent if row else ""
        report = backend.get_usage_report([account]).get(account, {})
        found.update(
            tree=" <- ".join(path),
            qos=own.qos,
            limits_backend=client.limits_of(own),
            limits_waldur=backend.get_resource_limits(account),
            users=sorted(r.user for r in rows if r.user),
            active_jobs=client.active_jobs(account),
            usage_this_month=report,
        )
    waldur = _waldur(config, offering).list(
        "marketplace-provider-resources/",
        Resource,
        {"offering_uuid": offering.waldur_offering_uuid, "backend_id": account},
    )
    found["waldur_resources"] = [
        {"uuid": r.uuid, "name": r.name, "state": r.state, "limits": r.limits} for r in waldur
    ]
    if args.json:
        print(json.dumps(found, indent=2, sort_keys=True))
    else:
        for key, value in found.items():
            print(f"{key:>17}: {value}")
    return own is not None


def import_resources(args: argparse.Namespace) -> int:
    return _run(args, lambda config, offering: _import(config, offering, args.dry_run))


def _import(config: AgentConfig, offering: Offering, dry_run: bool) -> bool:
    from waldur_site_agent_actors.actors.waldur.imports import BackendImports

    backend = _backend(config, offering, "order")
    if backend is None:
        print(f"{offering.name}: skipped (no order backend)")
        return True
    imports = BackendImports(_waldur(config, offering))
    said = imports.offer(offering.waldur_offering_uuid, backend.importable_resources(), dry_run)
    for line in said:
        print(f"{offering.name}: {line}")
    offered = sum(": offered to project " in line for line in said)
    print(f"{offering.name}: {offered} account(s) offered for import")
    return True


HANDLERS: dict[str, Handler] = {
    "load-components": load_components,
    "create-homedirs": create_homedirs,
    "sync-resource-limits": sync_resource_limits,
    "load-historical-usage": load_historical_usage,
    "diagnose-slurm-account": diagnose_slurm_account,
    "sync-offering-users": sync_offering_users,
    "import-resources": import_resources,
}


# -- upstream's script names ----------------------------------------------------------------------


def _legacy(subcommand: str) -> Callable[[Sequence[str] | None], int]:
    """`waldur_site_<tool> [-m MODE] [-c FILE] ...` as upstream took it, run as our subcommand."""

    def main(argv: Sequence[str] | None = None) -> int:
        from waldur_site_agent_actors.agent.cli import main as cli_main

        given = list(sys.argv[1:] if argv is None else argv)
        args: list[str] = []
        skip = False
        for item in given:
            if skip:
                skip = False
            elif item in ("-m", "--mode"):
                skip = True  # upstream's shared parser took a mode these tools ignore
            elif item.startswith("--mode="):
                continue
            elif item == "--config":
                args.append("--config-file")
            else:
                args.append(item)
        if not {"-c", "--config-file"} & set(args) and not any(
            a.startswith("--config-file=") for a in args
        ):
            args = ["-c", UPSTREAM_CONFIG, *args]
        return cli_main([subcommand, *args])

    return main


legacy_load_components = _legacy("load-components")
legacy_create_homedirs = _legacy("create-homedirs")
legacy_sync_resource_limits = _legacy("sync-resource-limits")
legacy_load_historical_usage = _legacy("load-historical-usage")
legacy_diagnose_slurm_account = _legacy("diagnose-slurm-account")
legacy_sync_offering_users = _legacy("sync-offering-users")
legacy_diagnostics = _legacy("diagnostics")


def _renamed(subcommand: str) -> Callable[[Sequence[str] | None], int]:
    """An upstream script with a command line of its own, which the subcommand takes as is."""

    def main(argv: Sequence[str] | None = None) -> int:
        from waldur_site_agent_actors.agent.cli import main as cli_main

        return cli_main([subcommand, *(sys.argv[1:] if argv is None else argv)])

    return main


legacy_healthz = _renamed("healthz")
legacy_test_order = _renamed("test-order")
