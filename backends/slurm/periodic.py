"""Periodic settings: what Waldur's SLURM periodic usage policies set on an allocation account.

A `resource_periodic_limits` event carries settings Waldur computed for one resource:
`fairshare`, TRES limits (`grp_tres_mins` or `max_tres_mins`, already in SLURM units, written
under the message's `limit_type` or the offering's `periodic_limits.limit_type`) and
`reset_raw_usage`. Everything is checked before the first command runs, only what differs from
the account's own association is written, and the outcome is a report for Waldur,
`{success, error?, commands_executed}`: a SLURM failure is reported there, never raised.

With `periodic_limits.emulator_mode` (upstream's development switch), the settings go to a SLURM
emulator's REST API instead, as upstream sends them: one `POST <emulator_base_url>/api/apply-
periodic-settings` per setting (fairshare, the TRES minutes, the reset), no `sacctmgr` at all.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from typing import Any

import msgspec
import requests

from waldur_site_agent_actors.backends.exceptions import BackendError, CommandError
from waldur_site_agent_actors.backends.slurm import naming
from waldur_site_agent_actors.backends.slurm.client import SlurmClient
from waldur_site_agent_actors.backends.slurm.settings import LIMIT_TYPES, PeriodicLimits

NOT_ENABLED = (
    "periodic limits are not enabled for this offering (backend_settings.periodic_limits.enabled)"
)
QOS_THRESHOLD = "qos_threshold is not supported by this agent"
EMULATOR_URL = "http://localhost:8080"
"""Where upstream looks for its SLURM emulator when `emulator_base_url` is not set."""
EMULATOR_TIMEOUT = 10.0


class Plan(msgspec.Struct, frozen=True):
    """The settings of one message, checked."""

    fairshare: int | None
    limit_type: str
    limit_key: str
    """`grp_tres_mins` or `max_tres_mins`: the key the message gave the TRES minutes under."""
    tres: dict[str, int]
    reset_raw_usage: bool


def apply(
    client: SlurmClient, config: PeriodicLimits, account: str, settings: Mapping[str, Any]
) -> dict[str, Any]:
    """Apply `settings` to `account`; the report for Waldur."""
    if not config.enabled:
        return _report([], NOT_ENABLED)
    if config.emulator_mode:
        return _apply_to_emulator(config, account, settings)
    executed: list[str] = []
    try:
        account = naming.account(account)
        plan = _plan(settings, config.limit_type)
        known = client.cluster_tres() if plan.tres else set()
        unknown = sorted(set(plan.tres) - known)
        if unknown:
            raise BackendError(
                f"TRES {', '.join(unknown)} not on the cluster (known: {', '.join(sorted(known))})"
            )
        row = client.account_row(account)
        if row is None:
            raise BackendError(f"account {account!r} does not exist")
        if plan.fairshare is not None and row.fairshare != str(plan.fairshare):
            executed.append(client.set_fairshare(account, plan.fairshare))
        current = row.limits.get(plan.limit_type, {})
        changed = {name: v for name, v in plan.tres.items() if current.get(name) != v}
        if changed:
            executed.append(client.set_tres_limit(account, plan.limit_type, changed))
        if plan.reset_raw_usage:
            executed.append(client.reset_raw_usage(account))
    except CommandError as exc:
        return _report(executed, f"{shlex.join(exc.argv)}: {exc}")
    except BackendError as exc:
        return _report(executed, str(exc))
    if settings.get("qos_threshold"):
        return _report(executed, QOS_THRESHOLD)
    return _report(executed)


def _apply_to_emulator(
    config: PeriodicLimits, account: str, settings: Mapping[str, Any]
) -> dict[str, Any]:
    """Upstream's emulator mode: each setting a POST of its own; the first the emulator refuses
    (or cannot be reached for) ends it, and its error is the report's."""
    base_url = config.emulator_base_url or EMULATOR_URL
    executed: list[str] = []
    try:
        account = naming.account(account)
        plan = _plan(settings, config.limit_type)
        posts: list[dict[str, Any]] = []
        if plan.fairshare is not None:
            posts.append({"fairshare": plan.fairshare})
        if plan.tres:  # under the key the message used (upstream's emulator path sends grp only)
            posts.append({plan.limit_key: plan.tres})
        if plan.reset_raw_usage:
            posts.append({"reset_raw_usage": True})
        url = f"{base_url.rstrip('/')}/api/apply-periodic-settings"
        for body in posts:
            body = {"resource_id": account, **body}
            response = requests.post(url, json=body, timeout=EMULATOR_TIMEOUT)
            response.raise_for_status()
            executed.append(f"POST {url} {json.dumps(body, sort_keys=True)}")
    except BackendError as exc:
        return _report(executed, str(exc))
    except requests.RequestException as exc:
        return _report(executed, f"SLURM emulator at {base_url}: {exc}")
    if settings.get("qos_threshold"):
        return _report(executed, QOS_THRESHOLD)
    return _report(executed)


def _plan(settings: Mapping[str, Any], default_limit_type: str) -> Plan:
    """The settings this agent acts on, refused with a readable error when malformed."""
    if not isinstance(settings, Mapping):
        raise BackendError(f"periodic settings must be an object, not {type(settings).__name__}")
    limit_type = settings.get("limit_type") or default_limit_type
    if limit_type not in LIMIT_TYPES:
        raise BackendError(f"limit_type {limit_type!r} is not one of {', '.join(LIMIT_TYPES)}")
    key = "grp_tres_mins" if settings.get("grp_tres_mins") else "max_tres_mins"
    limits = settings.get(key) or {}
    if not isinstance(limits, Mapping):
        raise BackendError(f"{key} must map TRES names to numbers, not {limits!r}")
    fairshare = settings.get("fairshare")
    return Plan(
        fairshare=None if fairshare is None else _whole("fairshare", fairshare),
        limit_type=limit_type,
        limit_key=key,
        tres={str(name): _whole(f"{key}.{name}", value) for name, value in limits.items()},
        reset_raw_usage=settings.get("reset_raw_usage") is True,
    )


def _whole(what: str, value: Any) -> int:
    """A non-negative whole number (`5` or `5.0`); anything else is refused."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or value < 0
        or not float(value).is_integer()
    ):
        raise BackendError(f"{what}: {value!r} is not a non-negative whole number")
    return int(value)


def _report(executed: list[str], error: str = "") -> dict[str, Any]:
    if error:
        return {"success": False, "error": error, "commands_executed": executed}
    return {"success": True, "commands_executed": executed}
