"""`SlurmClient`: sacctmgr, sacct, squeue and scancel, as argv lists with timeouts.

Every name reaching a command line has passed `backends.slurm.naming` first. Limits here are in
backend units (TRES-minutes or TRES counts) keyed by Waldur component; this class knows how a
component maps onto a TRES and a limit type.
"""

from __future__ import annotations

import logging
import os
import shlex
from collections.abc import Iterator, Sequence
from datetime import datetime

import msgspec

from waldur_site_agent_actors.backends.client import BaseClient
from waldur_site_agent_actors.backends.exceptions import CommandError
from waldur_site_agent_actors.backends.slurm import naming, usage
from waldur_site_agent_actors.backends.slurm.settings import LIMIT_TYPES, LimitType
from waldur_site_agent_actors.backends.structures import Association, ClientResource

log = logging.getLogger("backends.slurm")

ASSOC_FORMAT = "Account,User,ParentName,QOS,DefaultQOS,Fairshare,GrpSubmit," + ",".join(LIMIT_TYPES)
ASSOC_FIELDS = 7 + len(LIMIT_TYPES)
USER_LIMIT_TYPE = "MaxTRESMins"
"""Per-user limits, as upstream sets them: TRES-minutes per job of that user."""
ALREADY_THERE = ("nothing new added", "request didn't affect anything")
"""What `sacctmgr add user` says of an association that exists (Slurm 22.05; 23.02 and later)."""
# One argv item may not exceed 128 KiB (MAX_ARG_STRLEN); stay well below it.
MAX_ACCOUNTS_ARG = 100_000


class ComponentMap(msgspec.Struct, frozen=True):
    """Where one Waldur component lives in SLURM."""

    tres: str
    limit_type: LimitType


class AssocRow(msgspec.Struct, frozen=True):
    """One line of `sacctmgr show association`; `user` is empty for the account's own row."""

    account: str
    user: str
    parent: str
    qos: str
    default_qos: str
    fairshare: str  # a number, or `parent`
    grp_submit: str  # GrpSubmitJobs: empty when unlimited
    limits: dict[str, dict[str, float]]  # limit type -> TRES -> value


class SlurmClient(BaseClient):
    def __init__(
        self,
        bin_path: str,
        cluster: str | None,
        components: dict[str, ComponentMap],
        partition: str | None = None,
        preferred_default: str = "",
    ) -> None:
        self.bin_path = bin_path
        self.preferred_default = preferred_default
        self.cluster = cluster
        self.components = components
        self.partition = partition
        self._cluster_tres: set[str] | None = None

    # -- command lines ------------------------------------------------------------------------

    def _bin(self, command: str) -> str:
        return os.path.join(self.bin_path, command) if self.bin_path else command

    def _sacctmgr_argv(self, args: Sequence[str], write: bool) -> list[str]:
        flags = ["--parsable2", "--noheader"] + (["--immediate"] if write else [])
        return [self._bin("sacctmgr"), *flags, *args]

    def sacctmgr(self, *args: str, write: bool = False) -> str:
        return self.execute_command(self._sacctmgr_argv(args, write))

    def modify_account(self, account: str, *settings: str) -> str:
        """`sacctmgr modify account where name=A [cluster=C] set ...`; returns the command line."""
        where = ["where", f"name={naming.account(account)}", *self._scope()]
        argv = self._sacctmgr_argv(["modify", "account", *where, "set", *settings], write=True)
        self.execute_command(argv)
        return shlex.join(argv)

    def _scope(self) -> list[str]:
        """`cluster=C` inside a where clause (or after `add ...`) when one cluster is served."""
        return [f"cluster={self.cluster}"] if self.cluster else []

    def _cluster_flag(self) -> list[str]:
        return [f"--clusters={self.cluster}"] if self.cluster else []

    # -- cluster --------------------------------------------------------------------------------

    def version(self) -> str:
        return self.execute_command([self._bin("sacctmgr"), "--version"]).strip()

    def clusters(self) -> list[str]:
        return _lines(self.sacctmgr("show", "cluster", "format=Cluster"))

    def cluster_tres(self) -> set[str]:
        """TRES the cluster accounts for (`cpu`, `mem`, `gres/gpu`, ...); read once."""
        if self._cluster_tres is None:
            names = set()
            for line in _lines(self.sacctmgr("show", "tres", "format=Type,Name")):
                kind, _, name = line.partition("|")
                names.add(f"{kind}/{name}" if name else kind)
            self._cluster_tres = names
        return self._cluster_tres

    def qos_names(self) -> set[str]:
        return set(_lines(self.sacctmgr("show", "qos", "format=Name")))

    # -- accounts -------------------------------------------------------------------------------

    def list_resources(self) -> list[ClientResource]:
        return self._accounts()

    def get_resource(self, resource_id: str) -> ClientResource | None:
        found = self._accounts(f"name={naming.account(resource_id)}")
        return found[0] if found else None

    def _accounts(self, *where: str) -> list[ClientResource]:
        args = ["show", "account", *(["where", *where] if where else [])]
        args.append("format=Account,Description,Organization")
        result = []
        for line in _lines(self.sacctmgr(*args)):
            name, description, organization = [*line.split("|"), "", ""][:3]
            result.append(
                ClientResource(
                    name=name,
                    description=description,
                    organization=organization,
                    backend_id=name,
                )
            )
        return result

    def create_resource(
        self,
        name: str,
        description: str,
        organization: str,
        parent_name: str | None = None,
        limits: dict[str, int] | None = None,
    ) -> str:
        """`sacctmgr add account`, with its limits in the same command when given."""
        args = [
            "add",
            "account",
            naming.account(name),
            f"description={naming.description(description) or name}",
            f"organization={naming.description(organization) or name}",
            *([f"parent={naming.account(parent_name)}"] if parent_name else []),
        ]
        args += self._limit_args(limits or {})
        self.sacctmgr(*args, *self._scope(), write=True)
        return name

    def set_parent(self, name: str, parent: str) -> None:
        self.modify_account(name, f"parent={naming.account(parent)}")

    def delete_resource(self, name: str) -> str:
        self.sacctmgr(
            "remove",
            "account",
            "where",
            f"name={naming.account(name)}",
            *self._scope(),
            write=True,
        )
        return name

    def associations(
        self, account: str | Sequence[str] | None = None, user: str | None = None
    ) -> list[AssocRow]:
        """Association rows of one account or several (one call), or of one user."""
        names = [account] if isinstance(account, str) else list(account or [])
        where = [f"account={','.join(naming.account(a) for a in names)}"] if names else []
        where += [f"user={naming.user(user)}"] if user else []
        where += self._scope()
        args = ["show", "association", *(["where", *where] if where else [])]
        rows = []
        for line in _lines(self.sacctmgr(*args, f"format={ASSOC_FORMAT}")):
            fields = line.split("|")
            if len(fields) != ASSOC_FIELDS:
                continue
            limits: dict[str, dict[str, float]] = {
                kind: usage.parse_tres(text)
                for kind, text in zip(LIMIT_TYPES, fields[7:], strict=True)
            }
            account, user, parent, qos, default_qos, fairshare, grp_submit = fields[:7]
            rows.append(
                AssocRow(
                    account=account.lower(),
                    user=user.lower(),
                    parent=parent.lower(),
                    qos=qos,
                    default_qos=default_qos,
                    fairshare=fairshare,
                    grp_submit=grp_submit,
                    limits=limits,
                )
            )
        return rows

    def account_row(self, account: str) -> AssocRow | None:
        return next((r for r in self.associations(account=account) if not r.user), None)

    def children(self, account: str) -> list[str]:
        """Accounts directly under `account`."""
        output = self.sacctmgr(
            "show",
            "association",
            "where",
            f"parent={naming.account(account)}",
            *self._scope(),
            "format=Account,User",
        )
        return sorted({line.split("|")[0] for line in _lines(output) if line.endswith("|")})

    # -- limits ---------------------------------------------------------------------------------

    def _limit_args(self, limits: dict[str, int]) -> list[str]:
        """`GrpTRESMins=cpu=600,mem=1024 GrpTRES=gres/gpu=2` for the components given."""
        return [tres_arg(kind, tres) for kind, tres in sorted(self.by_limit_type(limits).items())]

    def by_limit_type(self, limits: dict[str, int]) -> dict[str, dict[str, int]]:
        """Component limits as limit type -> TRES -> value; TRES the cluster lacks left out."""
        known = self.cluster_tres()
        by_type: dict[str, dict[str, int]] = {}
        for component, value in sorted(limits.items()):
            where = self.components.get(component)
            if where is None:
                continue
            if known and where.tres not in known:
                log.warning("TRES %r of component %r is not on the cluster", where.tres, component)
                continue
            by_type.setdefault(where.limit_type, {})[where.tres] = int(value)
        return by_type

    def set_resource_limits(self, resource_id: str, limits_dict: dict[str, int]) -> str | None:
        naming.account(resource_id)
        settings = self._limit_args(limits_dict)
        if settings:
            self.modify_account(resource_id, *settings)
        return resource_id

    def limits_of(self, row: AssocRow) -> dict[str, int]:
        """The components' limits on one association, in backend units."""
        return {
            component: int(row.limits[where.limit_type][where.tres])
            for component, where in self.components.items()
            if where.tres in row.limits.get(where.limit_type, {})
        }

    def get_resource_limits(self, resource_id: str) -> dict[str, int]:
        row = self.account_row(resource_id)
        return self.limits_of(row) if row else {}

    def get_resource_user_limits(self, resource_id: str) -> dict[str, dict[str, int]]:
        """Per-user limits: each user's MaxTRESMins, by component, where any is set."""
        result = {}
        for row in self.associations(account=resource_id):
            if not row.user:
                continue
            per_job = row.limits.get(USER_LIMIT_TYPE, {})
            limits = {
                component: int(per_job[where.tres])
                for component, where in self.components.items()
                if where.tres in per_job
            }
            if limits:
                result[row.user] = limits
        return result

    def set_resource_user_limits(
        self, resource_id: str, username: str, limits_dict: dict[str, int]
    ) -> str:
        """The user's MaxTRESMins on the account: the given components' TRES set, every other
        TRES of the cluster cleared (-1), so a limit Waldur no longer holds goes away."""
        user, account = naming.user(username), naming.account(resource_id)
        wanted = {
            self.components[c].tres: int(v) for c, v in limits_dict.items() if c in self.components
        }
        tres = {name: wanted.get(name, -1) for name in self.cluster_tres() | set(wanted)}
        self.sacctmgr(
            "modify",
            "user",
            "where",
            f"name={user}",
            f"account={account}",
            *self._scope(),
            "set",
            tres_arg(USER_LIMIT_TYPE, tres),
            write=True,
        )
        return username

    # -- periodic settings ----------------------------------------------------------------------
    # Each returns the command line it ran, for the report to Waldur.

    def set_fairshare(self, account: str, shares: int) -> str:
        return self.modify_account(account, f"fairshare={int(shares)}")

    def set_tres_limit(self, account: str, limit_type: str, tres: dict[str, int]) -> str:
        """`GrpTRESMins=cpu=N,billing=M` on the account itself, TRES named as SLURM does."""
        return self.modify_account(account, tres_arg(limit_type, tres))

    def reset_raw_usage(self, account: str) -> str:
        return self.modify_account(account, "RawUsage=0")

    # -- users ----------------------------------------------------------------------------------

    def get_association(self, user: str, resource_id: str) -> Association | None:
        rows = self.associations(account=resource_id, user=user)
        return Association(account=resource_id, user=user) if rows else None

    def list_resource_users(self, resource_id: str) -> list[str]:
        return sorted({r.user for r in self.associations(account=resource_id) if r.user})

    def create_association(
        self, username: str, resource_id: str, default_account: str | None = None
    ) -> str:
        self.add_association(username, resource_id, default_account)
        return username

    def add_association(
        self,
        username: str,
        resource_id: str,
        default_account: str | None = None,
        partitions: Sequence[str] = (),
        qos: str | None = None,
    ) -> bool:
        """False when the association already existed (sacctmgr 22.05: "Nothing new added";
        23.02 and later exit 1 with "Request didn't affect anything", while a missing account
        there says "No account ..." instead).

        `partitions` (or else the default partition) gives one association per partition;
        `qos` is granted on them as their only QoS and default. Fairshare is the parent's.
        """
        args = ["add", "user", naming.user(username), f"account={naming.account(resource_id)}"]
        if default_account:
            args.append(f"defaultaccount={naming.account(default_account)}")
        chosen = sorted(partitions) or ([self.partition] if self.partition else [])
        if chosen:
            args.append(f"partition={','.join(naming.qos(p, 'partition') for p in chosen)}")
        if qos:
            args += [f"qos={naming.qos(qos)}", f"defaultqos={qos}"]
        args.append("fairshare=parent")
        try:
            self.sacctmgr(*args, *self._scope(), write=True)
        except CommandError as exc:
            said = f"{exc.stdout} {exc.stderr}".lower()
            if any(sign in said for sign in ALREADY_THERE):
                return False
            raise
        return True

    def delete_association(self, username: str, resource_id: str) -> str:
        user = naming.user(username)
        self.move_default_account(user, away_from=resource_id)
        self.sacctmgr(
            "remove",
            "user",
            "where",
            f"name={user}",
            f"account={naming.account(resource_id)}",
            *self._scope(),
            write=True,
        )
        return username

    def default_account(self, user: str) -> str:
        lines = _lines(
            self.sacctmgr(
                "show", "user", "where", f"name={naming.user(user)}", "format=DefaultAccount"
            )
        )
        return lines[0].lower() if lines else ""

    def move_default_account(self, user: str, away_from: str) -> None:
        """Before `user` leaves `away_from`: make another of their accounts their default.

        SLURM refuses to remove an account that is some user's default, and removing a user's
        default association leaves them with none (every job then needs `-A`).
        """
        user, away_from = naming.user(user), naming.account(away_from)
        if self.default_account(user) != away_from:
            return
        others = sorted({r.account for r in self.associations(user=user)} - {away_from})
        if not others:
            return  # the user goes away with their last association
        target = self.preferred_default if self.preferred_default in others else others[0]
        self.set_default_account(user, target)

    def set_default_account(self, user: str, account: str) -> None:
        self.sacctmgr(
            "modify",
            "user",
            "where",
            f"name={naming.user(user)}",
            *self._scope(),
            "set",
            f"defaultaccount={naming.account(account)}",
            write=True,
        )

    def users_defaulting_to(self, account: str) -> list[str]:
        return [
            u.lower()
            for u in _lines(
                self.sacctmgr(
                    "show",
                    "user",
                    "where",
                    f"defaultaccount={naming.account(account)}",
                    "format=User",
                )
            )
        ]

    # -- QoS ------------------------------------------------------------------------------------

    def set_qos(self, account: str, qos: str) -> None:
        # defaultqos in the same command: SLURM refuses a QoS list without the default in it.
        self.modify_account(account, f"qos={naming.qos(qos)}", f"defaultqos={qos}")

    # -- jobs -----------------------------------------------------------------------------------

    def active_jobs(self, account: str, user: str | None = None) -> list[str]:
        """Pending and running jobs of the account (of one user of it, when given)."""
        output = self.execute_command(
            [
                self._bin("squeue"),
                "--noheader",
                f"--account={naming.account(account)}",
                *([f"--user={naming.user(user)}"] if user else []),
                "--format=%i",
                *self._cluster_flag(),
            ]
        )
        return [line.strip() for line in output.splitlines() if line.strip()[:1].isdigit()]

    def cancel_jobs(self, account: str, user: str | None = None) -> None:
        self.execute_command(
            [
                self._bin("scancel"),
                f"--account={naming.account(account)}",
                *([f"--user={naming.user(user)}"] if user else []),
                *self._cluster_flag(),
            ]
        )

    def remove_users(self, account: str) -> None:
        """Every user association of the account (the account's own one stays)."""
        self.sacctmgr(
            "remove", "user", "where", f"account={naming.account(account)}", *self._scope(),
            write=True,
        )  # fmt: skip

    def set_grp_submit_jobs(self, account: str, jobs: int) -> None:
        self.modify_account(account, f"GrpSubmitJobs={int(jobs)}")

    # -- usage ----------------------------------------------------------------------------------

    def get_usage_report(
        self, resource_ids: list[str], window: tuple[str, str] | None = None
    ) -> list[usage.JobUsage]:
        """Job allocations of these accounts in the window (default: this month, host time)."""
        if window is None:
            now = datetime.now().astimezone()
            window = usage.month_window(now.year, now.month, now.tzinfo)
        jobs: list[usage.JobUsage] = []
        accounts = sorted({naming.account(a) for a in resource_ids})
        for chunk in _chunks(accounts, MAX_ACCOUNTS_ARG):
            output = self.execute_command(
                [
                    self._bin("sacct"),
                    "--parsable2",
                    "--noheader",
                    "--noconvert",
                    "--truncate",
                    "--allocations",
                    "--allusers",
                    f"--starttime={window[0]}",
                    f"--endtime={window[1]}",
                    f"--accounts={','.join(chunk)}",
                    f"--format={usage.FORMAT}",
                    *self._cluster_flag(),
                ]
            )
            jobs.extend(usage.parse_lines(output))
        return jobs


def tres_arg(limit_type: str, tres: dict[str, int]) -> str:
    """`GrpTRESMins=cpu=600,mem=1024`: one limit type, its TRES in name order."""
    return f"{limit_type}={','.join(f'{name}={value}' for name, value in sorted(tres.items()))}"


def _lines(output: str) -> list[str]:
    return [line.strip() for line in output.splitlines() if line.strip()]


def _chunks(names: Sequence[str], limit: int) -> Iterator[list[str]]:
    """Groups of names whose comma-joined length stays under `limit`."""
    chunk: list[str] = []
    size = 0
    for name in names:
        if chunk and size + len(name) + 1 > limit:
            yield chunk
            chunk, size = [], 0
        chunk.append(name)
        size += len(name) + 1
    if chunk:
        yield chunk
