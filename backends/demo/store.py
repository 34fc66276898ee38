"""The demo backend's SQLite file: its whole state, safe across agent restarts."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    name TEXT PRIMARY KEY, description TEXT, organization TEXT, parent TEXT,
    state TEXT NOT NULL DEFAULT 'active', created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS limits (
    account TEXT, component TEXT, value INTEGER, PRIMARY KEY (account, component));
CREATE TABLE IF NOT EXISTS user_limits (
    account TEXT, username TEXT, component TEXT, value INTEGER,
    PRIMARY KEY (account, username, component));
CREATE TABLE IF NOT EXISTS associations (
    account TEXT, username TEXT, PRIMARY KEY (account, username));
CREATE TABLE IF NOT EXISTS pending_orders (
    order_id TEXT PRIMARY KEY, account TEXT, ready_at REAL);
CREATE TABLE IF NOT EXISTS usage (
    account TEXT, username TEXT, component TEXT, month TEXT, amount REAL, updated REAL,
    PRIMARY KEY (account, username, component, month));
CREATE TABLE IF NOT EXISTS journal (
    time REAL, command TEXT, target TEXT, outcome TEXT);
"""


class Store:
    def __init__(self, path: Path, read_only: bool = False) -> None:
        """`read_only`: open an existing file without writing; a missing one stays missing
        and reads as empty (`exists` says so)."""
        self.path = path
        self.exists = path.exists()
        if read_only:
            target = f"file:{path}?mode=ro" if self.exists else "file::memory:"
            self.db = sqlite3.connect(target, uri=True, check_same_thread=False)
            if not self.exists:
                self.db.executescript(SCHEMA)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        # One connection used from the backend actor's thread only. Write-ahead log, synced at
        # checkpoints: a commit costs no fsync, and a killed agent loses nothing committed.
        self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self.exists = True

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """What runs inside is one commit, or none of it; nested, the outer one decides."""
        if self.db.in_transaction:
            yield
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def execute(self, sql: str, *args: object) -> list[tuple[object, ...]]:
        return self.db.execute(sql, args).fetchall()

    def accounts(self) -> list[tuple[object, ...]]:
        return self.execute("SELECT name, description, organization, parent FROM accounts")

    def account(self, name: str) -> tuple[object, ...] | None:
        rows = self.execute(
            "SELECT name, description, organization, parent, state FROM accounts WHERE name = ?",
            name,
        )
        return rows[0] if rows else None

    def add_account(self, name: str, description: str, organization: str, parent: str) -> None:
        self.execute(
            "INSERT INTO accounts VALUES (?, ?, ?, ?, 'active', ?)",
            name,
            description,
            organization,
            parent,
            time.time(),
        )

    def delete_account(self, name: str) -> None:
        for table in ("limits", "user_limits", "associations"):
            self.execute(f"DELETE FROM {table} WHERE account = ?", name)  # noqa: S608
        self.execute("DELETE FROM accounts WHERE name = ?", name)

    def record(self, command: str, target: str, outcome: str) -> None:
        """One line of the journal: what a changing command did (sacctmgr keeps such a log)."""
        self.execute(
            "INSERT INTO journal VALUES (?, ?, ?, ?)", time.time(), command, target, outcome
        )

    def accrue(
        self, account: str, username: str, components: dict[str, float], month: str, now: float
    ) -> None:
        """Grow usage of a linked user by rate x seconds since it was last accrued."""
        for component, rate in components.items():
            rows = self.execute(
                "SELECT amount, updated FROM usage WHERE account = ? AND username = ? "
                "AND component = ? AND month = ?",
                account,
                username,
                component,
                month,
            )
            if rows:
                amount, updated = rows[0]
                grown = float(amount) + rate * max(0.0, now - float(updated))  # type: ignore[arg-type]
                self.execute(
                    "UPDATE usage SET amount = ?, updated = ? WHERE account = ? AND "
                    "username = ? AND component = ? AND month = ?",
                    grown,
                    now,
                    account,
                    username,
                    component,
                    month,
                )
            else:
                self.execute(
                    "INSERT INTO usage VALUES (?, ?, ?, ?, 0, ?)",
                    account,
                    username,
                    component,
                    month,
                    now,
                )
