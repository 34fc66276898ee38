"""The `moab` backend: deposit-based accounting in Moab Accounting Manager (MAM).

A Waldur resource is a MAM account with one fund. The resource's `deposit` limit is what the
fund was given (credits deposited minus withdrawn); jobs charged by Moab spend it, and those
charges come back to Waldur as `deposit` usage. Members of the resource's project are the
account's users. Pausing deactivates the account (Moab then refuses its jobs); MAM has no
reduced mode, so downscaling changes nothing.

As upstream, each Waldur project has a MAM project account (`<project_prefix><project slug>`,
with a fund, its organization itself) made before its first allocation, and an allocation's
organization names its project account; the last allocation of a project takes the project
account with it. The owner record of an allocation is therefore kept at the end of its
description (`<resource name> [waldur-resource-<uuid>]`); the organization of accounts made by
earlier versions of this agent (`waldur-resource-<uuid>`) is still read as one.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import msgspec

from waldur_site_agent_actors.backends import backend_ids, units
from waldur_site_agent_actors.backends.base import BaseBackend, UserContext
from waldur_site_agent_actors.backends.commands import validate_name
from waldur_site_agent_actors.backends.exceptions import BackendError, ConfigurationError
from waldur_site_agent_actors.backends.moab.client import (
    DEPOSIT,
    MAM_NAME,
    MoabClient,
    UsageLine,
    plain,
)
from waldur_site_agent_actors.backends.structures import (
    TOTAL_ACCOUNT_USAGE,
    ClientResource,
    UsageReport,
    WaldurResource,
)
from waldur_site_agent_actors.config.model import BackendSettings

OWNER_MARK = re.compile(r"\s*\[(" + backend_ids.OWNER_PREFIX + r"[^\s\]]+)\]$")
"""The owner record closing an allocation's description. Only the very end counts: a resource
name is the customer's text, and one naming another resource comes before the agent's mark."""


def owner_of(account: ClientResource) -> str:
    """The resource uuid an account was made for: the mark at the end of its description, or
    the organization as earlier versions of this agent wrote it; "" for neither."""
    mark = OWNER_MARK.search(account.description)
    return backend_ids.owner_in(mark.group(1) if mark else account.organization)


def described(account: ClientResource) -> str:
    """The description without its owner mark: the resource's name."""
    return OWNER_MARK.sub("", account.description)


def cents(amount: Decimal) -> float:
    return float(amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


class MoabSettings(BackendSettings, kw_only=True, forbid_unknown_fields=True):
    """`backend_settings` of the moab backend; every key is optional. The keys every backend
    takes (`project_prefix`, `default_account`, ...) do here what config/keys.py says."""

    allocation_prefix: str = ""
    """Prepended to the resource slug to name the MAM account."""
    mam_bin_path: str = ""
    """Directory of the `mam-*` clients; empty: found on PATH."""


class MoabBackend(BaseBackend):
    def __init__(
        self, backend_settings: dict[str, Any], backend_components: dict[str, dict[str, Any]]
    ) -> None:
        super().__init__(backend_settings, backend_components)
        self.backend_type = "moab"
        self.settings = msgspec.convert(backend_settings, MoabSettings)
        if DEPOSIT not in self.backend_components:
            raise ConfigurationError(
                "the moab backend needs a 'deposit' component in backend_components"
            )
        factor = self.backend_components[DEPOSIT].get("unit_factor")
        if factor not in (None, 1, 1.0):
            self.log.warning("deposit unit_factor %s ignored: MAM credits are Waldur units", factor)
        # One credit is one Waldur unit, whatever the config says (upstream forces this too).
        self.backend_components[DEPOSIT]["unit_factor"] = 1
        self.client = MoabClient(self.settings.mam_bin_path)
        self.mam = self.client

    def ping(self, raise_exception: bool = False) -> bool:
        return self._reachable(
            "MAM",
            lambda: self.mam.run("mam-list-accounts", "--raw", "--quiet", "--show", "Name"),
            raise_exception,
        )

    def diagnostics(self) -> bool:
        version = self.mam.run("mam-list-accounts", "-V").strip()
        accounts = self.mam.list_resources()
        prefix = self.settings.allocation_prefix
        ours = [a for a in accounts if a.name.startswith(prefix)] if prefix else accounts
        self.log.info(
            "%s: %d account(s), %d named with prefix %r", version, len(accounts), len(ours), prefix
        )
        return True

    def list_components(self) -> list[str]:
        return [DEPOSIT]

    def _collect_resource_limits(
        self, waldur_resource: WaldurResource
    ) -> tuple[dict[str, int], dict[str, float]]:
        value = waldur_resource.limits.get(DEPOSIT, self.backend_components[DEPOSIT].get("limit"))
        if value is None:
            return {}, {}
        return {DEPOSIT: units.limit_to_backend(float(value), 1)}, {DEPOSIT: float(value)}

    # -- project accounts and owner records ---------------------------------------------------

    def project_account(self, project_slug: str) -> str:
        """`<project_prefix><project slug>`, upstream's name; refused before any command when
        there is no slug or it is not a MAM name."""
        if not project_slug:
            raise BackendError(
                "the resource has no project slug: its MAM project account cannot be named"
            )
        prefix = str(self.backend_settings.get("project_prefix") or "")
        return validate_name(
            f"{prefix}{project_slug}", what="MAM project account", pattern=MAM_NAME
        )

    def _pre_create_resource(
        self, waldur_resource: WaldurResource, user_context: UserContext | None = None
    ) -> None:
        """The project account, with its fund, before the allocation (as upstream): described
        by the project's name, its organization itself. One that is a resource's allocation
        (it carries an owner record) is not taken for the project's."""
        project = self.project_account(waldur_resource.project_slug)
        found = self.mam.get_resource(project)
        if found is None:
            self.mam.create_resource(project, waldur_resource.project_name or project, project)
            self.log.info("created project account %s", project)
        elif owner_of(found):
            raise BackendError(
                f"MAM account {project!r} is the allocation of Waldur resource "
                f"{owner_of(found)}, not a project account"
            )
        elif self.mam.fund(project) is None:  # an earlier create stopped between the two
            self.mam.create_fund(project)

    def _new_account(self, waldur_resource: WaldurResource, backend_id: str) -> ClientResource:
        """Upstream's allocation (organization: its project account), the owner record after
        the resource's name in the description."""
        owner = backend_ids.owner_tag(waldur_resource.uuid)
        return ClientResource(
            name=backend_id,
            description=f"{plain(waldur_resource.name)} [{owner}]",
            organization=self.project_account(waldur_resource.project_slug),
        )

    def backend_id_owner(self, backend_id: str) -> str | None:
        found = self.mam.get_resource(backend_id)
        return None if found is None else owner_of(found)

    def _post_delete_resource(self, waldur_resource: WaldurResource) -> None:
        """Upstream's rule: the project account goes with the last account whose organization
        names it. An account that is a resource's allocation is never taken for one."""
        try:
            project = self.project_account(waldur_resource.project_slug)
        except BackendError:  # never named, so never made
            return
        accounts = self.mam.list_resources()
        if any(a.organization == project and a.name != project for a in accounts):
            return
        found = next((a for a in accounts if a.name == project), None)
        if found is None or owner_of(found):
            return
        self.mam.delete_resource(project)
        self.log.info("deleted project account %s: its last allocation is gone", project)

    def list_resources(self) -> list[ClientResource]:
        """The allocations resource import offers: project accounts (organization itself) left
        out, descriptions without the owner mark."""
        return [
            msgspec.structs.replace(account, description=described(account))
            for account in self.mam.list_resources()
            if account.organization != account.name
        ]

    def _get_usage_report(self, resource_backend_ids: list[str]) -> UsageReport:
        return self._report(self.mam.get_usage_report(resource_backend_ids, self.timezone))

    def get_usage_report_for_period(
        self, resource_backend_ids: list[str], year: int, month: int
    ) -> UsageReport:
        return self._report(self.mam.usage_lines(resource_backend_ids, year, month))

    @staticmethod
    def _report(lines: list[UsageLine]) -> UsageReport:
        """Charges summed per account and user; credits are Waldur units, to the cent (half up)."""
        charged: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
        for line in lines:
            charged[line.account][line.user] += line.charge
        report: UsageReport = {}
        for account, per_user in charged.items():
            usage = {user: {DEPOSIT: cents(total)} for user, total in per_user.items()}
            usage[TOTAL_ACCOUNT_USAGE] = {DEPOSIT: cents(sum(per_user.values(), Decimal()))}
            report[account] = usage
        return report

    def pause_resource(self, resource_backend_id: str) -> bool:
        return self._activate(resource_backend_id, False)

    def restore_resource(self, resource_backend_id: str) -> bool:
        return self._activate(resource_backend_id, True)

    def downscale_resource(self, resource_backend_id: str) -> bool:
        self.log.info("MAM has no downscaled mode; %s is unchanged", resource_backend_id)
        return False

    def soft_delete_resource(self, waldur_resource: WaldurResource) -> str | None:
        """The account stays, deactivated, its fund holding only what was charged: MAM refuses
        a withdrawal of spent credits, so the deposit goes down to the spending, not to 0. A
        Restore deposits the limit's difference again, and membership sync reactivates it."""
        account = waldur_resource.backend_id
        fund = self.mam.fund(account)
        if fund is not None:
            self.mam.set_resource_limits(
                account, {DEPOSIT: math.ceil(fund.allocated - fund.balance)}
            )
        self._activate(account, False)
        self.log.info("soft-deleted %s: deactivated, nothing left to spend", account)
        return None

    def _activate(self, account: str, active: bool) -> bool:
        """True when the account's state changed; an account already so is left alone."""
        if self.mam.is_active(account) == active:
            return False
        self.mam.set_active(account, active)
        return True

    def backend_owned_limits(self) -> set[str]:
        """None: the fund's deposit follows Waldur's limit, never the other way (upstream's MOAB
        plugin reads no limits); the metadata shows what MAM holds."""
        return set()

    def get_resource_metadata(self, resource_backend_id: str) -> dict[str, Any]:
        fund = self.mam.fund(resource_backend_id)
        metadata: dict[str, Any] = {"active": self.mam.is_active(resource_backend_id)}
        if fund is not None:
            metadata.update(
                fund_id=fund.id,
                deposited=round(fund.allocated, 2),
                balance=round(fund.balance, 2),
            )
        return metadata
