"""The demo plugin: what a real backend does, against the demo store."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated, Any

import msgspec

from waldur_site_agent_actors.backends import units
from waldur_site_agent_actors.backends.base import (
    READ_ONLY_VARIABLE,
    STATE_DIR_VARIABLE,
    BaseBackend,
    UserContext,
)
from waldur_site_agent_actors.backends.demo.client import DemoClient, current_month
from waldur_site_agent_actors.backends.demo.store import Store
from waldur_site_agent_actors.backends.exceptions import BackendError
from waldur_site_agent_actors.backends.structures import (
    TOTAL_ACCOUNT_USAGE,
    BackendResourceInfo,
    UsageReport,
    WaldurResource,
)
from waldur_site_agent_actors.config.model import BackendSettings


class DemoSettings(BackendSettings, kw_only=True, forbid_unknown_fields=True):
    """`backend_settings` of the demo plugin; every key is optional."""

    path: str = ""
    usage_per_second: float = 100.0
    allocation_prefix: str = "demo_"
    default_account: str = ""
    fail_on: list[str] = msgspec.field(default_factory=list)
    pending_seconds: float = 0.0
    """> 0: creates are non-blocking orders that complete this many seconds later."""
    fail_rate: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] = 0.0
    """Share of commands that fail (every change, and the usage report); half of them after
    the change was made. For chaos tests: see `DemoClient.command`."""
    fail_seed: int | None = None
    """Seed of the `fail_rate` draws; unset: different failures on every start."""


class DemoBackend(BaseBackend):
    def __init__(
        self, backend_settings: dict[str, Any], backend_components: dict[str, dict[str, Any]]
    ) -> None:
        super().__init__(backend_settings, backend_components)
        self.backend_type = "demo"
        self.settings = msgspec.convert(backend_settings, DemoSettings)
        # Non-blocking creates are waited for only by a backend declaring them (upstream's flag).
        self.supports_async_orders = self.settings.pending_seconds > 0
        self.backend_settings.setdefault("allocation_prefix", self.settings.allocation_prefix)
        state_dir = os.environ.get(STATE_DIR_VARIABLE) or "/var/lib/waldur-site-agent"
        path = Path(self.settings.path or Path(state_dir) / "demo-backend.sqlite")
        store = Store(path, read_only=os.environ.get(READ_ONLY_VARIABLE) == "1")
        self.client = DemoClient(store, self.settings.fail_rate, self.settings.fail_seed)
        self.demo = self.client

    def _maybe_fail(self, operation: str) -> None:
        """Lets tests and the demo show error paths: `fail_on: [create]` makes creates fail,
        as a backend refusing them would (a `BackendError`, not a plugin bug)."""
        if operation in self.settings.fail_on:
            raise BackendError(f"demo backend was told to fail on {operation}")

    def ping(self, raise_exception: bool = False) -> bool:
        self._maybe_fail("ping")
        self.demo.store.execute("SELECT 1")
        return True

    def diagnostics(self) -> bool:
        store = self.demo.store
        if not store.exists:
            self.log.info("demo backend: no store yet; the agent makes %s when it runs", store.path)
            return True
        accounts = len(self.demo.list_resources())
        self.log.info("demo backend: %d account(s) in %s", accounts, store.path)
        return True

    def list_components(self) -> list[str]:
        return sorted(self.backend_components)

    def _collect_resource_limits(
        self, waldur_resource: WaldurResource
    ) -> tuple[dict[str, int], dict[str, float]]:
        return self.component_limits(waldur_resource)

    def _pre_create_resource(
        self, waldur_resource: WaldurResource, user_context: UserContext | None = None
    ) -> None:
        self._maybe_fail("create")

    def create_resource_with_id(
        self,
        waldur_resource: WaldurResource,
        backend_id: str,
        user_context: UserContext | None = None,
    ) -> BackendResourceInfo:
        info = super().create_resource_with_id(waldur_resource, backend_id, user_context)
        if self.settings.pending_seconds > 0:
            info.pending_order_id = f"demo-order-{backend_id}"
            ready_at = time.time() + self.settings.pending_seconds
            self.demo.store.execute(
                "INSERT OR REPLACE INTO pending_orders VALUES (?, ?, ?)",
                info.pending_order_id,
                backend_id,
                ready_at,
            )
        return info

    def check_pending_order(self, order_backend_id: str) -> bool:
        rows = self.demo.store.execute(
            "SELECT ready_at FROM pending_orders WHERE order_id = ?", order_backend_id
        )
        if not rows:
            raise BackendError(f"no pending demo order {order_backend_id!r}")
        return time.time() >= float(rows[0][0])  # type: ignore[arg-type]

    def _pre_delete_resource(self, waldur_resource: WaldurResource) -> None:
        self._maybe_fail("delete")

    def set_resource_limits(self, resource_backend_id: str, limits: dict[str, float]) -> str | None:
        self._maybe_fail("update")
        return super().set_resource_limits(resource_backend_id, limits)

    def _get_usage_report(self, resource_backend_ids: list[str]) -> UsageReport:
        self._maybe_fail("usage")
        month, now = current_month(), time.time()
        rates = {
            key: self.settings.usage_per_second
            for key, c in self.backend_components.items()
            if c.get("accounting_type", "usage") == "usage"
        }
        # One command, as sreport is: accrual is the change a failure may come after.
        with self.demo.command("report_usage", f"{len(resource_backend_ids)} account(s)"):
            for account in resource_backend_ids:
                for user in self.demo.list_resource_users(account):
                    self.demo.store.accrue(account, user, rates, month, now)
        return self._report(self.demo.usage_rows(resource_backend_ids, month))

    def get_usage_report_for_period(
        self, resource_backend_ids: list[str], year: int, month: int
    ) -> UsageReport:
        return self._report(self.demo.usage_rows(resource_backend_ids, f"{year:04d}-{month:02d}"))

    def _report(self, rows: list[tuple[str, str, str, float]]) -> UsageReport:
        report: UsageReport = {}
        for account, user, component, amount in rows:
            value = units.usage_to_waldur(amount, self.unit_factor(component))
            usage = report.setdefault(account, {TOTAL_ACCOUNT_USAGE: {}})
            usage.setdefault(user, {})[component] = value
            totals = usage[TOTAL_ACCOUNT_USAGE]
            totals[component] = totals.get(component, 0) + value
        return report

    def downscale_resource(self, resource_backend_id: str) -> bool:
        self.demo.set_state(resource_backend_id, "downscaled")
        return True

    def pause_resource(self, resource_backend_id: str) -> bool:
        self.demo.set_state(resource_backend_id, "paused")
        return True

    def restore_resource(self, resource_backend_id: str) -> bool:
        self.demo.set_state(resource_backend_id, "active")
        return True

    def get_resource_metadata(self, resource_backend_id: str) -> dict[str, Any]:
        row = self.demo.store.account(resource_backend_id)
        return {"state": row[4]} if row else {}
