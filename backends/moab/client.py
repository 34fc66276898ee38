"""`BaseClient` over the MAM command-line clients (`mam-*`).

Every call is an argv list with the client's timeout (never a shell, never a string split: a
description with spaces stays one argument). Listings use `--raw --quiet`, so each output line
is one object with its `--show` attributes separated by `|`. Amounts are MAM credits.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec

from waldur_site_agent_actors.backends.client import BaseClient
from waldur_site_agent_actors.backends.commands import validate_name
from waldur_site_agent_actors.backends.exceptions import BackendError
from waldur_site_agent_actors.backends.structures import Association, ClientResource

# MAM account and user names: no `|` (the raw separator), `,` (list separator) or `=`.
MAM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]*")
DEPOSIT = "deposit"


class Fund(msgspec.Struct, frozen=True):
    id: int
    allocated: float
    """Credits deposited minus withdrawn: the account's limit."""
    balance: float
    """Credits left after charges."""


class UsageLine(msgspec.Struct, frozen=True):
    account: str
    user: str
    charge: Decimal
    """Exactly as MAM printed it: money is summed and rounded without float noise."""


def plain(text: str) -> str:
    """Descriptions travel as one argv item, but `|` or a newline would break raw listings."""
    return " ".join(text.replace("|", " ").split())


def month_window(year: int, month: int) -> tuple[str, str]:
    """`-s`/`-e` of a calendar month: usage records that ended in [first day, next first day)."""
    start = date(year, month, 1)
    end = date(year + month // 12, month % 12 + 1, 1)
    return start.isoformat(), end.isoformat()


class MoabClient(BaseClient):
    def __init__(self, bin_path: str = "") -> None:
        self.bin_path = bin_path

    def run(self, command: str, *args: str) -> str:
        binary = str(Path(self.bin_path) / command) if self.bin_path else command
        return self.execute_command([binary, *args])

    def rows(self, command: str, show: str, *filters: str) -> list[list[str]]:
        output = self.run(command, "--raw", "--quiet", "--show", show, *filters)
        return [line.split("|") for line in output.splitlines() if line.strip()]

    # accounts

    def list_resources(self) -> list[ClientResource]:
        return [self._account(row) for row in self.rows("mam-list-accounts", _ACCOUNT_SHOW)]

    def get_resource(self, resource_id: str) -> ClientResource | None:
        name = validate_name(resource_id, what="MAM account", pattern=MAM_NAME)
        rows = self.rows("mam-list-accounts", _ACCOUNT_SHOW, "-a", name)
        return self._account(rows[0]) if rows else None

    @staticmethod
    def _account(row: list[str]) -> ClientResource:
        name, description, organization = [*row, "", ""][:3]
        return ClientResource(
            name=name, description=description, organization=organization, backend_id=name
        )

    def is_active(self, account: str) -> bool:
        rows = self.rows("mam-list-accounts", "Active", "-a", account)
        if not rows:
            raise BackendError(f"MAM account {account!r} does not exist")
        return rows[0][0] == "True"

    def set_active(self, account: str, active: bool) -> None:
        self.run("mam-modify-account", "-a", account, "-A" if active else "-I")

    def create_resource(
        self, name: str, description: str, organization: str, parent_name: str | None = None
    ) -> str:
        """An account and the one fund its deposits go to (MAM accounts are flat: no parent)."""
        validate_name(name, what="MAM account", pattern=MAM_NAME)
        self.run("mam-create-account", "-a", name, "-d", plain(description), "-o", organization)
        return self.create_fund(name)

    def create_fund(self, account: str) -> str:
        return self.run("mam-create-fund", "-a", account, "-n", account)

    def delete_resource(self, name: str) -> str:
        """The funds first: if anything fails, the account is still there to find and retry."""
        for fund in self.funds(name):
            self.run("mam-delete-fund", "-f", str(fund.id))
        return self.run("mam-delete-account", "-a", name)

    # funds: the deposit is the account's limit

    def funds(self, account: str) -> list[Fund]:
        rows = self.rows("mam-list-funds", "Id,Allocated,Balance", "-a", account)
        return [Fund(int(i), float(a), float(b)) for i, a, b in rows]

    def fund(self, account: str) -> Fund | None:
        """The account's fund (the lowest id if an operator made more than one)."""
        funds = self.funds(account)
        return min(funds, key=lambda f: f.id) if funds else None

    def set_resource_limits(self, resource_id: str, limits_dict: dict[str, int]) -> str | None:
        """Make the fund hold `deposit` credits in total: deposit or withdraw the difference.

        A Waldur limit is a total, so raising 100 to 150 deposits 50 (not another 150); lowering
        it withdraws, which MAM refuses beyond the unspent balance.
        """
        if DEPOSIT not in limits_dict:
            return None
        target = int(limits_dict[DEPOSIT])
        fund = self.fund(resource_id)
        if fund is None:  # an account whose fund was never made (an interrupted create)
            self.create_fund(resource_id)
            fund = self.fund(resource_id)
            if fund is None:
                raise BackendError(f"MAM account {resource_id!r} has no fund to deposit into")
        difference = round(target - fund.allocated, 3)
        if difference > 0:
            return self.run("mam-deposit", "-f", str(fund.id), "-z", f"{difference:g}")
        if difference < 0:
            return self.run("mam-withdraw", "-f", str(fund.id), "-z", f"{-difference:g}")
        return None

    def get_resource_limits(self, resource_id: str) -> dict[str, int]:
        fund = self.fund(resource_id)
        return {DEPOSIT: round(fund.allocated)} if fund else {}

    def get_resource_user_limits(self, resource_id: str) -> dict[str, dict[str, int]]:
        return {}  # MAM funds are per account here; there are no per-user limits to read

    def set_resource_user_limits(
        self, resource_id: str, username: str, limits_dict: dict[str, int]
    ) -> str:
        raise BackendError("MAM accounts have no per-user limits in this backend")

    # users

    def user_exists(self, username: str) -> bool:
        return bool(self.rows("mam-list-users", "Name", "-u", username))

    def get_association(self, user: str, resource_id: str) -> Association | None:
        validate_name(user, what="MAM user", pattern=MAM_NAME)
        rows = self.rows("mam-list-users", "Name", "-u", user, "-a", resource_id)
        return Association(account=resource_id, user=user) if rows else None

    def create_association(
        self, username: str, resource_id: str, default_account: str | None = None
    ) -> str:
        """MAM only links users it knows: a new user is created first."""
        validate_name(username, what="MAM user", pattern=MAM_NAME)
        if not self.user_exists(username):
            self.run("mam-create-user", "-u", username)
        return self.run("mam-modify-account", "-a", resource_id, "--add-user", f"+{username}")

    def delete_association(self, username: str, resource_id: str) -> str:
        return self.run("mam-modify-account", "-a", resource_id, "--del-user", username)

    def list_resource_users(self, resource_id: str) -> list[str]:
        return [row[0] for row in self.rows("mam-list-users", "Name", "-a", resource_id)]

    # usage

    def get_usage_report(self, resource_ids: list[str], timezone: str = "UTC") -> list[UsageLine]:
        """This month's lines; the month is the one it is now in the agent's billing timezone."""
        today = datetime.now(ZoneInfo(timezone))
        return self.usage_lines(resource_ids, today.year, today.month)

    def usage_lines(self, resource_ids: list[str], year: int, month: int) -> list[UsageLine]:
        """Charges of the usage records that ended in the month, one line per record."""
        start, end = month_window(year, month)
        lines: list[UsageLine] = []
        for account in resource_ids:
            window = ("-a", account, "-s", start, "-e", end)
            rows = self.rows("mam-list-usagerecords", "Account,User,Charge", *window)
            lines.extend(UsageLine(a, u, Decimal(c)) for a, u, c in rows)
        return lines


_ACCOUNT_SHOW = "Name,Description,Organization"
