"""The MAM stand-in's state: accounts, users, funds, their transactions and usage records.

One SQLite file shared by every `mam-*` process (each command is a short-lived process, like the
real clients); every command runs in one transaction, so concurrent commands never see half a
change. Amounts are credits; a fund's balance is what its transactions add up to.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import NamedTuple

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    name TEXT PRIMARY KEY, description TEXT NOT NULL DEFAULT '',
    organization TEXT NOT NULL DEFAULT '', active INTEGER NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY, active INTEGER NOT NULL DEFAULT 1,
    common_name TEXT NOT NULL DEFAULT '', email TEXT NOT NULL DEFAULT '',
    default_account TEXT NOT NULL DEFAULT '', description TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS account_users (
    account TEXT NOT NULL, user TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (account, user));
CREATE TABLE IF NOT EXISTS funds (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL DEFAULT '',
    account TEXT NOT NULL, description TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS transactions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, fund INTEGER NOT NULL, action TEXT NOT NULL,
    amount REAL NOT NULL, time TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS usage_records (
    id INTEGER PRIMARY KEY AUTOINCREMENT, instance TEXT NOT NULL, account TEXT NOT NULL,
    user TEXT NOT NULL, charge REAL NOT NULL, start_time TEXT NOT NULL, end_time TEXT NOT NULL);
"""

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


class Refused(Exception):
    """The accounting server refused the request (the real clients exit non-zero with a reason)."""


class Fund(NamedTuple):
    id: int
    name: str
    account: str
    description: str
    allocated: float
    """Deposited minus withdrawn: what the fund was given."""
    balance: float
    """Allocated minus charged: what is left to spend."""


def now() -> str:
    return datetime.now(UTC).strftime(TIME_FORMAT)


class Store:
    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path, timeout=30, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(SCHEMA)
        self.db.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.db.execute("COMMIT")

    def close(self) -> None:
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")
        self.db.close()

    def _rows(self, sql: str, *args: object) -> list[tuple[object, ...]]:
        return self.db.execute(sql, args).fetchall()

    # accounts

    def account(self, name: str) -> tuple[object, ...] | None:
        rows = self._rows(
            "SELECT name, active, description, organization FROM accounts WHERE name = ?", name
        )
        return rows[0] if rows else None

    def require_account(self, name: str) -> None:
        if self.account(name) is None:
            raise Refused(f"Account {name} does not exist")

    def accounts(self, name: str | None, member: str | None) -> list[tuple[object, ...]]:
        """(name, active, description, organization, users) rows, by name."""
        rows = self._rows(
            "SELECT name, active, description, organization FROM accounts ORDER BY name"
        )
        result = []
        for row in rows:
            users = self.members(str(row[0]))
            if (name is None or row[0] == name) and (member is None or member in users):
                result.append((*row, ",".join(users)))
        return result

    def create_account(self, name: str, description: str, organization: str, active: bool) -> None:
        if self.account(name) is not None:
            raise Refused(f"Account {name} already exists")
        self.db.execute(
            "INSERT INTO accounts VALUES (?, ?, ?, ?)", (name, description, organization, active)
        )

    def modify_account(self, name: str, **changes: object) -> None:
        self.require_account(name)
        for column, value in changes.items():
            self.db.execute(f"UPDATE accounts SET {column} = ? WHERE name = ?", (value, name))  # noqa: S608

    def delete_account(self, name: str) -> None:
        """The account and its memberships go; funds constrained to it stay (their own object)."""
        self.require_account(name)
        for (user,) in self._rows("SELECT user FROM account_users WHERE account = ?", name):
            self.remove_member(name, str(user))
        self.db.execute("DELETE FROM accounts WHERE name = ?", (name,))

    # users and memberships

    def user(self, name: str) -> tuple[object, ...] | None:
        rows = self._rows(
            "SELECT name, active, common_name, email, default_account, description "
            "FROM users WHERE name = ?",
            name,
        )
        return rows[0] if rows else None

    def users(self, name: str | None, account: str | None) -> list[tuple[object, ...]]:
        rows = self._rows(
            "SELECT name, active, common_name, email, default_account, description "
            "FROM users ORDER BY name"
        )
        members = set(self.members(account)) if account is not None else None
        return [
            row
            for row in rows
            if (name is None or row[0] == name) and (members is None or row[0] in members)
        ]

    def create_user(self, name: str, common_name: str, email: str, description: str) -> None:
        if self.user(name) is not None:
            raise Refused(f"User {name} already exists")
        self.db.execute(
            "INSERT INTO users VALUES (?, 1, ?, ?, '', ?)", (name, common_name, email, description)
        )

    def members(self, account: str) -> list[str]:
        rows = self._rows("SELECT user FROM account_users WHERE account = ? ORDER BY user", account)
        return [str(user) for (user,) in rows]

    def add_member(self, account: str, user: str, active: bool) -> None:
        if self.user(user) is None:
            raise Refused(f"User {user} does not exist")
        if user in self.members(account):
            raise Refused(f"User {user} is already a member of account {account}")
        self.db.execute("INSERT INTO account_users VALUES (?, ?, ?)", (account, user, active))
        # A user's first account becomes its default, as schedulers charge jobs to it.
        self.db.execute(
            "UPDATE users SET default_account = ? WHERE name = ? AND default_account = ''",
            (account, user),
        )

    def remove_member(self, account: str, user: str) -> None:
        if user not in self.members(account):
            raise Refused(f"User {user} is not a member of account {account}")
        self.db.execute("DELETE FROM account_users WHERE account = ? AND user = ?", (account, user))
        others = self._rows(
            "SELECT account FROM account_users WHERE user = ? ORDER BY account LIMIT 1", user
        )
        self.db.execute(
            "UPDATE users SET default_account = ? WHERE name = ? AND default_account = ?",
            (str(others[0][0]) if others else "", user, account),
        )

    def is_active_member(self, account: str, user: str) -> bool:
        return bool(
            self._rows(
                "SELECT 1 FROM account_users WHERE account = ? AND user = ? AND active = 1",
                account,
                user,
            )
        )

    # funds

    def create_fund(self, account: str, name: str, description: str) -> int:
        self.require_account(account)
        cursor = self.db.execute(
            "INSERT INTO funds (name, account, description) VALUES (?, ?, ?)",
            (name, account, description),
        )
        return int(cursor.lastrowid or 0)

    def funds(
        self, fund_id: int | None = None, account: str | None = None, user: str | None = None
    ) -> list[Fund]:
        rows = self._rows(
            "SELECT f.id, f.name, f.account, f.description, "
            "COALESCE(SUM(CASE WHEN t.action IN ('Deposit', 'Withdraw') THEN t.amount END), 0), "
            "COALESCE(SUM(t.amount), 0) "
            "FROM funds f LEFT JOIN transactions t ON t.fund = f.id GROUP BY f.id ORDER BY f.id"
        )
        funds = [
            Fund(int(i), str(n), str(a), str(d), float(al), float(b))  # type: ignore[arg-type,call-overload]
            for i, n, a, d, al, b in rows
        ]
        return [
            f
            for f in funds
            if (fund_id is None or f.id == fund_id)
            and (account is None or f.account == account)
            and (user is None or self.is_active_member(f.account, user))
        ]

    def fund(self, fund_id: int | None, account: str | None) -> Fund:
        """The one fund meant by `-f` and/or `-a`, as deposit and withdraw resolve it."""
        if fund_id is not None:
            found = self.funds(fund_id=fund_id)
            if not found:
                raise Refused(f"Fund {fund_id} does not exist")
            if account is not None and found[0].account != account:
                raise Refused(f"Fund {fund_id} is not a fund of account {account}")
            return found[0]
        if account is None:
            raise Refused("A fund (-f) or an account (-a) must be specified")
        found = self.funds(account=account)
        if not found:
            raise Refused(f"No fund is constrained to account {account}")
        if len(found) > 1:
            raise Refused(f"Account {account} has {len(found)} funds; specify one with -f")
        return found[0]

    def delete_fund(self, fund_id: int) -> None:
        if not self.funds(fund_id=fund_id):
            raise Refused(f"Fund {fund_id} does not exist")
        self.db.execute("DELETE FROM transactions WHERE fund = ?", (fund_id,))
        self.db.execute("DELETE FROM funds WHERE id = ?", (fund_id,))

    def transact(self, fund: Fund, action: str, amount: float) -> None:
        self.db.execute(
            "INSERT INTO transactions (fund, action, amount, time) VALUES (?, ?, ?, ?)",
            (fund.id, action, amount, now()),
        )

    # usage

    def charge(
        self, instance: str, account: str, user: str, amount: float, start: str, end: str
    ) -> None:
        self.require_account(account)
        if not self.is_active_member(account, user):
            raise Refused(f"User {user} is not an active member of account {account}")
        self.transact(self.fund(None, account), "Charge", -amount)
        self.db.execute(
            "INSERT INTO usage_records (instance, account, user, charge, start_time, end_time) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (instance, account, user, amount, start, end),
        )

    def usage_records(
        self, account: str | None, user: str | None, start: str | None, end: str | None
    ) -> list[tuple[object, ...]]:
        """Records that ended in [start, end): a record belongs to the period it finished in."""
        rows = self._rows(
            "SELECT id, instance, account, user, charge, start_time, end_time "
            "FROM usage_records ORDER BY id"
        )
        return [
            row
            for row in rows
            if (account is None or row[2] == account)
            and (user is None or row[3] == user)
            and (start is None or str(row[6]) >= start)
            and (end is None or str(row[6]) < end)
        ]
