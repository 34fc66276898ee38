"""QoS beyond the pause/restore swap: an allocation's own QoS, and QoS granted to its users.

`qos_management` gives every allocation account a QoS of the same name, with upstream's flags
(`DenyOnLimit,NoDecay`) and limits, granted with `qos+=`/`defaultqos`; with
`apply_limits_to_qos` the allocation's budget is held on that QoS instead of the account.
QoS enforcement (`qos_enforcement_enabled`) grants the QoS a customer chose at order time on each
user's association. Both must keep the QoS list they set, so pause and restore turn the account's
`GrpSubmitJobs` to 0 and back to unlimited (-1) instead of swapping QoS.
"""

from __future__ import annotations

from waldur_site_agent_actors.backends.exceptions import InvalidNameError
from waldur_site_agent_actors.backends.slurm import naming, usage
from waldur_site_agent_actors.backends.slurm.client import SlurmClient, tres_arg
from waldur_site_agent_actors.backends.slurm.settings import QosManagement

PAUSED, UNLIMITED = 0, -1
"""`GrpSubmitJobs` of a paused and of a running account (-1 clears the limit)."""


class AllocationQos:
    """The QoS of one allocation account each, named as the account."""

    def __init__(self, client: SlurmClient, config: QosManagement) -> None:
        self.client, self.config = client, config

    def exists(self, name: str) -> bool:
        output = self.client.sacctmgr(
            "show", "qos", "where", f"name={naming.qos(name)}", "format=Name"
        )
        return any(line.strip().lower() == name.lower() for line in output.splitlines())

    def create(self, name: str) -> bool:
        """The QoS with its flags and limits, in one command; False when it already existed."""
        if self.exists(name):
            return False
        c = self.config
        settings = [
            f"{key}={value}"
            for key, value in (
                ("Flags", c.flags),
                ("GrpTRES", c.grp_tres),
                ("MaxJobs", c.max_jobs),
                ("MaxSubmit", c.max_submit),
                ("MaxWall", c.max_wall),
                ("MinTRESPerJob", c.min_tres_per_job),
            )
            if value is not None and value != ""
        ]
        self.client.sacctmgr("add", "qos", naming.qos(name), *settings, write=True)
        return True

    def attach(self, account: str) -> None:
        """The account may use its own QoS (its default) and the configured extra ones."""
        names = [naming.qos(account), *(naming.qos(q) for q in self.config.additional_qos or [])]
        self.client.modify_account(account, f"qos+={','.join(names)}", f"defaultqos={account}")

    def delete(self, name: str) -> None:
        if self.exists(name):
            self.client.sacctmgr("remove", "qos", "where", f"name={naming.qos(name)}", write=True)

    def limits(self, name: str) -> dict[str, dict[str, float]]:
        """Limit type -> TRES -> value of the QoS (GrpTRESMins and GrpTRES)."""
        output = self.client.sacctmgr(
            "show", "qos", "where", f"name={naming.qos(name)}", "format=Name,GrpTRESMins,GrpTRES"
        )
        for line in output.splitlines():
            fields = line.strip().split("|")
            if len(fields) == 3 and fields[0].lower() == name.lower():
                return {
                    "GrpTRESMins": usage.parse_tres(fields[1]),
                    "GrpTRES": usage.parse_tres(fields[2]),
                }
        return {}

    def set_limits(self, name: str, by_type: dict[str, dict[str, int]]) -> None:
        settings = [tres_arg(kind, tres) for kind, tres in sorted(by_type.items()) if tres]
        if settings:
            self.client.sacctmgr(
                "modify", "qos", "where", f"name={naming.qos(name)}", "set", *settings, write=True
            )

    def reset_raw_usage(self, name: str) -> None:
        self.client.sacctmgr(
            "modify", "qos", "where", f"name={naming.qos(name)}", "set", "RawUsage=0", write=True
        )


def selected(attributes: dict[str, object]) -> tuple[str | None, str | None]:
    """The QoS and partition a customer chose on the order form (`attributes.qos`/`partition`),
    checked like every name before it can reach a command line."""
    chosen: list[str | None] = []
    for key in ("qos", "partition"):
        value = attributes.get(key)
        if value in (None, ""):
            chosen.append(None)
        elif not isinstance(value, str):
            raise InvalidNameError(f"attributes.{key} {value!r} is not a name")
        else:
            chosen.append(naming.qos(value, f"attributes.{key}"))
    return chosen[0], chosen[1]
