"""`qos_management` through slurmrestd (`execution_mode: rest`): `qos.AllocationQos` with the
same QoS, flags, limits and grants written as REST requests.

The QoS record paths are upstream's REST client's; sacctmgr's flag names map onto slurmrestd's
(`DenyOnLimit` -> `DENY_LIMIT`). A QoS's raw usage reset still runs sacctmgr, as upstream's REST
mode does: slurmrestd has no call for it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from waldur_site_agent_actors.backends.slurm import naming
from waldur_site_agent_actors.backends.slurm.client import SlurmClient
from waldur_site_agent_actors.backends.slurm.qos import AllocationQos
from waldur_site_agent_actors.backends.slurm.rest import (
    SlurmRestClient,
    _dig,
    _put,
    _tres_key,
    _tres_list,
)
from waldur_site_agent_actors.backends.slurm.settings import TRES_ITEM, QosManagement

FLAGS = {
    "denyonlimit": "DENY_LIMIT",
    "nodecay": "NO_DECAY",
    "noreserve": "NO_RESERVE",
    "enforceusagethreshold": "ENFORCE_USAGE_THRESHOLD",
    "requiresreservation": "REQUIRED_RESERVATION",
    "overpartqos": "OVERRIDE_PARTITION_QOS",
    "partitionminnodes": "PARTITION_MINIMUM_NODE",
    "partitionmaxnodes": "PARTITION_MAXIMUM_NODE",
    "partitiontimelimit": "PARTITION_TIME_LIMIT",
    "usagefactorsafe": "USAGE_FACTOR_SAFE",
    "relative": "RELATIVE",
}
LIMIT_PATHS = {
    "GrpTRESMins": ("limits", "max", "tres", "minutes", "total"),
    "GrpTRES": ("limits", "max", "tres", "total"),
}


class RestAllocationQos(AllocationQos):
    client: SlurmRestClient

    def __init__(self, client: SlurmRestClient, config: QosManagement) -> None:
        super().__init__(client, config)

    def _record(self, name: str) -> dict[str, Any] | None:
        wanted = naming.qos(name).lower()
        found = self.client.request("GET", self.client._db("qos/")).get("qos") or []
        return next((q for q in found if (q.get("name") or "").lower() == wanted), None)

    def exists(self, name: str) -> bool:
        return self._record(name) is not None

    def create(self, name: str) -> bool:
        if self.exists(name):
            return False
        c = self.config
        record: dict[str, Any] = {"name": naming.qos(name)}
        if c.flags:
            record["flags"] = [FLAGS.get(f.lower(), f.upper()) for f in c.flags.split(",")]
        limits: dict[str, Any] = {}
        if c.grp_tres:
            _put(limits, ["max", "tres", "total"], _tres_list(counts(c.grp_tres)))
        if c.max_jobs is not None:
            _put(limits, ["max", "jobs", "active_jobs", "per", "user"], c.max_jobs)
        if c.max_submit is not None:
            _put(limits, ["max", "jobs", "per", "user"], c.max_submit)
        if c.max_wall:
            _put(limits, ["max", "wall_clock", "per", "job"], wall_minutes(c.max_wall))
        if c.min_tres_per_job:
            _put(limits, ["min", "tres", "per", "job"], _tres_list(counts(c.min_tres_per_job)))
        if limits:
            record["limits"] = limits
        self.client.request("POST", self.client._db("qos/"), body={"qos": [record]})
        return True

    def attach(self, account: str) -> None:
        names = [naming.qos(account), *(naming.qos(q) for q in self.config.additional_qos or [])]
        self.client.grant_qos(account, names, default=naming.qos(account))

    def delete(self, name: str) -> None:
        if self.exists(name):
            self.client.request("DELETE", self.client._db(f"qos/{quote(naming.qos(name))}"))

    def limits(self, name: str) -> dict[str, dict[str, float]]:
        record = self._record(name)
        if record is None:
            return {}
        return {
            kind: {_tres_key(t): float(t["count"]) for t in _dig(record, path) or []}
            for kind, path in LIMIT_PATHS.items()
        }

    def set_limits(self, name: str, by_type: dict[str, dict[str, int]]) -> None:
        """These TRES limits on the QoS, its other TRES kept (slurmrestd replaces a list)."""
        wanted = {kind: tres for kind, tres in by_type.items() if tres}
        record = self._record(name)
        if not wanted or record is None:
            return
        for kind, tres in wanted.items():
            path = LIMIT_PATHS[kind]
            kept = {_tres_key(t): t["count"] for t in _dig(record, path) or []}
            _put(record, list(path), _tres_list({**kept, **tres}))
        # The whole record goes back: slurmrestd clears what an update leaves out.
        self.client.request("POST", self.client._db("qos/"), body={"qos": [record]})

    def reset_raw_usage(self, name: str) -> None:
        SlurmClient.sacctmgr(
            self.client,
            "modify", "qos", "where", f"name={naming.qos(name)}", "set", "RawUsage=0",
            write=True,
        )  # fmt: skip


def counts(text: str) -> dict[str, int]:
    """`cpu=25600,gres/gpu=8` as TRES -> count."""
    return {m.group(1): int(m.group(2)) for m in TRES_ITEM.finditer(text)}


def wall_minutes(value: str) -> int:
    """A SLURM time limit in minutes: `M`, `MM:SS`, `HH:MM:SS`, `D-HH`, `D-HH:MM[:SS]`."""
    days, _, clock = value.rpartition("-")
    parts = [int(p) for p in clock.split(":")]
    if days:
        hours, minutes, seconds = [*parts, 0, 0][:3]
    elif len(parts) == 3:
        hours, minutes, seconds = parts
    elif len(parts) == 2:
        hours, minutes, seconds = 0, parts[0], parts[1]
    else:
        hours, minutes, seconds = 0, parts[0], 0
    return ((int(days or 0) * 24 + hours) * 60 + minutes) + seconds // 60
