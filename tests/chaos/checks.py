"""What must hold after a chaos run, read from both sides: Waldur (the simulator's state and
request log) and the backend (each offering's demo SQLite file)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from tests.chaos.workload import TERMINAL, Placed
from tests.e2e.harness import DemoDb
from waldur_site_agent_actors.agent.demo import COMPONENTS
from waldur_site_agent_actors.backends import units

DONE_ENDPOINT = "POST /api/marketplace-orders/{uuid}/set_state_done/"
USAGE_COMPONENT = "gpu"  # the demo meters the `usage` components, here only gpu


def lost(placed: Iterable[Placed], orders: dict[str, dict[str, Any]]) -> list[str]:
    """Orders that never reached a final state."""
    return [p.uuid for p in placed if orders[p.uuid]["state"] not in TERMINAL]


def done_twice(log: Iterable[dict[str, Any]]) -> list[str]:
    """Orders Waldur accepted `set_state_done` for more than once."""
    accepted = Counter(
        entry["path"].split("/")[-3]
        for entry in log
        if entry["endpoint"] == DONE_ENDPOINT and 200 <= entry["status"] < 300
    )
    return sorted(uuid for uuid, n in accepted.items() if n > 1)


def created_twice(db: DemoDb) -> list[str]:
    """Accounts the backend created more than once (its journal; a failed create made none)."""
    rows = db.query(
        "SELECT target, COUNT(*) FROM journal WHERE command = 'create_account' "
        "AND outcome != 'failed' GROUP BY target HAVING COUNT(*) > 1"
    )
    return sorted(str(name) for name, _ in rows)


def backend_failures(dbs: Iterable[DemoDb]) -> Counter[str]:
    """The demo's injected failures by outcome ('failed' before, 'done, timed out' after)."""
    counts: Counter[str] = Counter()
    for db in dbs:
        for outcome, n in db.query(
            "SELECT outcome, COUNT(*) FROM journal WHERE outcome != 'done' GROUP BY outcome"
        ):
            counts[str(outcome)] += int(n)
    return counts


def alive(resources: Iterable[dict[str, Any]], offering_uuid: str) -> list[dict[str, Any]]:
    return [r for r in resources if r["offering"] == offering_uuid and r["state"] != "Terminated"]


def leaked_and_missing(db: DemoDb, resources: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """(accounts no live Waldur resource knows, OK resources whose account is not there).

    An Erred resource may or may not have its account (a create that failed half-way); it is
    known to Waldur either way, and terminating it removes whatever there is."""
    accounts = db.accounts()
    known = {r["backend_id"] for r in resources if r.get("backend_id")}
    missing = [r["backend_id"] or r["uuid"] for r in resources if r["state"] == "OK"]
    return sorted(accounts - known), sorted(m for m in missing if m not in accounts)


def wrong_limits(db: DemoDb, resources: list[dict[str, Any]]) -> list[str]:
    """OK resources whose backend limits are not Waldur's limits in backend units."""
    wrong = []
    for r in resources:
        if r["state"] != "OK":
            continue
        expected = {
            key: units.limit_to_backend(float(value), COMPONENTS[key]["unit_factor"])
            for key, value in (r.get("limits") or {}).items()
            if COMPONENTS.get(key, {}).get("accounting_type") == "limit"
        }
        if db.limits(r["backend_id"]) != expected:
            wrong.append(r["backend_id"])
    return wrong


def backend_usage(db: DemoDb, account: str, month: str) -> int:
    """What the agent should have reported: each user's amount in Waldur units, summed."""
    factor = COMPONENTS[USAGE_COMPONENT]["unit_factor"]
    rows = db.query(
        "SELECT amount FROM usage WHERE account = ? AND component = ? AND month = ?",
        account,
        USAGE_COMPONENT,
        month,
    )
    return sum(units.usage_to_waldur(float(amount), factor) for (amount,) in rows)


def waldur_usage(sim: Any, resource_uuid: str, period: str) -> float:
    rows = sim.objects(
        "component_usages", resource=resource_uuid, type=USAGE_COMPONENT, billing_period=period
    )
    return float(rows[0]["usage"]) if rows else 0.0


def usage_differences(sim: Any, db: DemoDb, resources: list[dict[str, Any]]) -> dict[str, str]:
    """OK resources whose usage in Waldur is not the backend's, read twice around Waldur's so a
    report cycle running meanwhile shows as a difference rather than a false match."""
    now = datetime.now(UTC)
    month, period = now.strftime("%Y-%m"), now.strftime("%Y-%m-01")
    differences = {}
    for r in resources:
        if r["state"] != "OK":
            continue
        before = backend_usage(db, r["backend_id"], month)
        reported = waldur_usage(sim, r["uuid"], period)
        after = backend_usage(db, r["backend_id"], month)
        if not before == after == reported:
            differences[r["backend_id"]] = f"backend {before}..{after}, Waldur {reported:g}"
    return differences
