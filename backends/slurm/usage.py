"""Usage from `sacct`: parsing its lines and adding them up per account, user and component.

One `sacct` call covers every account of an offering; the lines are job allocations with their
allocated TRES and the seconds each ran inside the billing window (`--truncate` clips jobs that
started before or end after it). A component's usage is TRES count x minutes: CPU-minutes,
MB-minutes of memory, GPU-minutes, billing-minutes; the same unit SLURM's GrpTRESMins counts in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

import msgspec

from waldur_site_agent_actors.backends.structures import TOTAL_ACCOUNT_USAGE, UsageReport

# Binary multipliers sacct uses in TRES strings; memory is counted in MB by SLURM.
_SUFFIX = {"K": 1024.0**-1, "M": 1.0, "G": 1024.0, "T": 1024.0**2, "P": 1024.0**3}
_COUNT_SUFFIX = {"K": 1024.0, "M": 1024.0**2, "G": 1024.0**3, "T": 1024.0**4, "P": 1024.0**5}

FORMAT = "Account,User,AllocTRES,ElapsedRaw"
"""The `sacct --format` the parser below expects, in this order."""


class JobUsage(msgspec.Struct, frozen=True):
    account: str
    user: str
    tres: dict[str, float]
    seconds: int


def parse_amount(tres: str, value: str) -> float:
    """One TRES value in SLURM's own unit: MB for `mem`, a count for everything else."""
    value = value.strip()
    if not value:
        return 0.0
    table = _SUFFIX if tres == "mem" else _COUNT_SUFFIX
    suffix = value[-1].upper()
    if suffix in table:
        return float(value[:-1]) * table[suffix]
    return float(value)


def parse_tres(text: str) -> dict[str, float]:
    """`billing=2,cpu=2,gres/gpu=1,mem=512M` -> {"billing": 2, "cpu": 2, ...}."""
    result: dict[str, float] = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        if sep and name:
            result[name.strip()] = parse_amount(name.strip(), value)
    return result


def parse_lines(output: str) -> list[JobUsage]:
    """`sacct --parsable2 --noheader --format=FORMAT` output; malformed lines are skipped."""
    jobs = []
    for line in output.splitlines():
        fields = line.split("|")
        if len(fields) != 4 or not fields[0]:
            continue
        account, user, alloc, elapsed = fields
        try:
            seconds = int(elapsed or 0)
        except ValueError:
            continue
        jobs.append(JobUsage(account.lower(), user.lower(), parse_tres(alloc), seconds))
    return jobs


def month_window(year: int, month: int, zone: str | tzinfo | None) -> tuple[str, str]:
    """The billing month as sacct's --starttime/--endtime.

    The month starts at midnight in the agent's `timezone`; sacct reads times without an
    offset as the host's local time, so the instants are converted to it.
    """
    tz = ZoneInfo(zone) if isinstance(zone, str) else zone
    start = datetime(year, month, 1, tzinfo=tz)
    following = (start + timedelta(days=32)).replace(day=1)
    return _local(start), _local(following)


def _local(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%dT%H:%M:%S")


def tres_minutes(
    jobs: Iterable[JobUsage], tres_of: Mapping[str, str], accounts: set[str]
) -> dict[str, dict[str, dict[str, float]]]:
    """account -> user -> key -> TRES-minutes, for the accounts asked for only; `tres_of`
    names the TRES of each key."""
    totals: dict[str, dict[str, dict[str, float]]] = {}
    for job in jobs:
        if job.account not in accounts or job.seconds <= 0:
            continue
        amounts = totals.setdefault(job.account, {}).setdefault(job.user, {})
        for component, tres in tres_of.items():
            count = job.tres.get(tres, 0.0)
            if count:
                amounts[component] = amounts.get(component, 0.0) + count * job.seconds / 60.0
    return totals


def report(
    minutes: Mapping[str, Mapping[str, Mapping[str, float]]],
    to_waldur: Callable[[dict[str, float]], dict[str, float]],
) -> UsageReport:
    """Backend TRES-minutes into Waldur units (`to_waldur` converts one user's or the total's
    amounts), per user and in total.

    The total is converted from the summed backend amounts, not summed from rounded per-user
    figures, so it is as exact as one rounding allows and grows whenever any job grows.
    """
    result: UsageReport = {}
    for account, users in minutes.items():
        raw_total: dict[str, float] = {}
        usage: dict[str, dict[str, float]] = {}
        for user, amounts in users.items():
            if user:  # a job whose user SLURM no longer knows counts in the total only
                usage[user] = to_waldur(dict(amounts))
            for tres, amount in amounts.items():
                raw_total[tres] = raw_total.get(tres, 0.0) + amount
        usage[TOTAL_ACCOUNT_USAGE] = to_waldur(raw_total)
        result[account] = usage
    return result
