"""The `moab` backend: deposit-based accounting in Moab Accounting Manager (MAM).

A Waldur resource is a MAM account with one fund. The resource's `deposit` limit is what the
fund was given (credits deposited minus withdrawn); jobs charged by Moab spend it, and those
charges come back to Waldur as `deposit` usage. Members of the resource's project are the
account's users. Pausing deactivates the account (Moab then refuses its jobs); MAM has no
reduced mode, so downscaling changes nothing.
"""

from __future__ import annotations

import math
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import msgspec

from waldur_site_agent_actors.backends import units
from waldur_site_agent_actors.backends.base import BaseBackend, UserContext
from waldur_site_agent_actors.backends.exceptions import ConfigurationError
from waldur_site_agent_actors.backends.moab.client import DEPOSIT, MoabClient, UsageLine
from waldur_site_agent_actors.backends.structures import (
    TOTAL_ACCOUNT_USAGE,
    UsageReport,
    WaldurResource,
)
from waldur_site_agent_actors.config.model import BackendSettings


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

    def _pre_create_resource(
        self, waldur_resource: WaldurResource, user_context: UserContext | None = None
    ) -> None:
        """Nothing to prepare: MAM accounts have no parent accounts to create first."""

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
