"""`BaseClient` over the demo store. Limits here are in backend units, like any client."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from datetime import UTC, datetime

from waldur_site_agent_actors.backends.client import BaseClient
from waldur_site_agent_actors.backends.commands import validate_name
from waldur_site_agent_actors.backends.demo.store import Store
from waldur_site_agent_actors.backends.exceptions import BackendError, CommandError, CommandTimeout
from waldur_site_agent_actors.backends.structures import Association, ClientResource


def current_month() -> str:
    return datetime.now(UTC).strftime("%Y-%m")


class DemoClient(BaseClient):
    def __init__(self, store: Store, fail_rate: float = 0.0, fail_seed: int | None = None) -> None:
        self.store = store
        self.fail_rate = fail_rate
        self._draws = random.Random(fail_seed)  # noqa: S311 - simulated faults, not crypto

    @contextlib.contextmanager
    def command(self, command: str, target: str) -> Iterator[None]:
        """One command that changes the backend, written to the journal once it ran.

        With `fail_rate`, commands fail the two ways real ones do: half of the failures before
        any change (exit 1: a refusal), half after the change was made (killed at the timeout:
        the caller cannot tell whether it happened, so only idempotent callers stay correct).
        """
        draw = self._draws.random() if self.fail_rate else 1.0
        argv = ["demo", command, target]
        if draw < self.fail_rate / 2:
            self.store.record(command, target, "failed")
            raise CommandError(argv, 1, "injected failure (fail_rate)")
        timed_out = draw < self.fail_rate
        # The change and its journal line are one commit: a command is done whole or not at all.
        with self.store.transaction():
            yield
            self.store.record(command, target, "done, timed out" if timed_out else "done")
        if timed_out:
            raise CommandTimeout(argv, self.command_timeout)

    def list_resources(self) -> list[ClientResource]:
        return [
            ClientResource(
                name=str(n), description=str(d or ""), organization=str(o or ""), backend_id=str(n)
            )
            for n, d, o, _ in self.store.accounts()
        ]

    def get_resource(self, resource_id: str) -> ClientResource | None:
        row = self.store.account(resource_id)
        if row is None:
            return None
        return ClientResource(
            name=str(row[0]),
            description=str(row[1] or ""),
            organization=str(row[2] or ""),
            backend_id=str(row[0]),
        )

    def create_resource(
        self, name: str, description: str, organization: str, parent_name: str | None = None
    ) -> str:
        validate_name(name, what="account name")
        if self.store.account(name) is not None:
            raise BackendError(f"account {name!r} already exists")
        with self.command("create_account", name):
            self.store.add_account(name, description, organization, parent_name or "")
        return name

    def delete_resource(self, name: str) -> str:
        with self.command("delete_account", name):
            self.store.delete_account(name)
        return name

    def set_resource_limits(self, resource_id: str, limits_dict: dict[str, int]) -> str | None:
        self._require(resource_id)
        with self.command("set_limits", resource_id):
            for component, value in limits_dict.items():
                self.store.execute(
                    "INSERT OR REPLACE INTO limits VALUES (?, ?, ?)",
                    resource_id,
                    component,
                    int(value),
                )
        return resource_id

    def get_resource_limits(self, resource_id: str) -> dict[str, int]:
        rows = self.store.execute(
            "SELECT component, value FROM limits WHERE account = ?", resource_id
        )
        return {str(c): int(v) for c, v in rows}  # type: ignore[call-overload]

    def get_resource_user_limits(self, resource_id: str) -> dict[str, dict[str, int]]:
        result: dict[str, dict[str, int]] = {}
        for user, component, value in self.store.execute(
            "SELECT username, component, value FROM user_limits WHERE account = ?", resource_id
        ):
            result.setdefault(str(user), {})[str(component)] = int(value)  # type: ignore[call-overload]
        return result

    def set_resource_user_limits(
        self, resource_id: str, username: str, limits_dict: dict[str, int]
    ) -> str:
        with self.command("set_user_limits", f"{resource_id}/{username}"):
            for component, value in limits_dict.items():
                self.store.execute(
                    "INSERT OR REPLACE INTO user_limits VALUES (?, ?, ?, ?)",
                    resource_id,
                    username,
                    component,
                    int(value),
                )
        return username

    def get_association(self, user: str, resource_id: str) -> Association | None:
        rows = self.store.execute(
            "SELECT 1 FROM associations WHERE account = ? AND username = ?", resource_id, user
        )
        return Association(account=resource_id, user=user) if rows else None

    def create_association(
        self, username: str, resource_id: str, default_account: str | None = None
    ) -> str:
        validate_name(username, what="username")
        self._require(resource_id)
        with self.command("add_association", f"{resource_id}/{username}"):
            self.store.execute(
                "INSERT OR IGNORE INTO associations VALUES (?, ?)", resource_id, username
            )
        return username

    def delete_association(self, username: str, resource_id: str) -> str:
        with self.command("delete_association", f"{resource_id}/{username}"):
            self.store.execute(
                "DELETE FROM associations WHERE account = ? AND username = ?",
                resource_id,
                username,
            )
        return username

    def get_usage_report(self, resource_ids: list[str]) -> list[tuple[str, str, str, float]]:
        """(account, username, component, amount) rows of the current month."""
        return self.usage_rows(resource_ids, current_month())

    def usage_rows(self, resource_ids: list[str], month: str) -> list[tuple[str, str, str, float]]:
        if not resource_ids:
            return []
        marks = ",".join("?" * len(resource_ids))
        rows = self.store.execute(
            f"SELECT account, username, component, amount FROM usage "  # noqa: S608
            f"WHERE month = ? AND account IN ({marks})",
            month,
            *resource_ids,
        )
        return [(str(a), str(u), str(c), float(x)) for a, u, c, x in rows]  # type: ignore[arg-type]

    def list_resource_users(self, resource_id: str) -> list[str]:
        rows = self.store.execute(
            "SELECT username FROM associations WHERE account = ? ORDER BY username", resource_id
        )
        return [str(u) for (u,) in rows]

    def set_state(self, resource_id: str, state: str) -> None:
        row = self.store.account(resource_id)
        if row is None:
            raise BackendError(f"account {resource_id!r} does not exist")
        if row[4] == state:
            return  # restore is asked every membership cycle: a command only for a change
        with self.command(f"set_{state}", resource_id):
            self.store.execute("UPDATE accounts SET state = ? WHERE name = ?", state, resource_id)

    def _require(self, resource_id: str) -> None:
        if self.store.account(resource_id) is None:
            raise BackendError(f"account {resource_id!r} does not exist")
