"""Test-only plugin objects, registered as entry points by the `fake_plugins` fixture."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from waldur_site_agent_actors.backends.base import BaseBackend, UserContext
from waldur_site_agent_actors.backends.structures import UsageReport, WaldurResource


class FakeBackend(BaseBackend):
    """Every abstract method with the no-op value of the plugin development guide."""

    def ping(self, raise_exception: bool = False) -> bool:
        return False

    def diagnostics(self) -> bool:
        self.log.info("fake backend: nothing to diagnose")
        return True

    def list_components(self) -> list[str]:
        return []

    def _get_usage_report(self, resource_backend_ids: list[str]) -> UsageReport:
        return {}

    def _collect_resource_limits(
        self, waldur_resource: WaldurResource
    ) -> tuple[dict[str, int], dict[str, float]]:
        return {}, {}

    def _pre_create_resource(
        self, waldur_resource: WaldurResource, user_context: UserContext | None = None
    ) -> None:
        pass

    def downscale_resource(self, resource_backend_id: str) -> bool:
        return True

    def pause_resource(self, resource_backend_id: str) -> bool:
        return True

    def restore_resource(self, resource_backend_id: str) -> bool:
        return True

    def get_resource_metadata(self, resource_backend_id: str) -> dict[str, Any]:
        return {}


class StrictSettings(msgspec.Struct, kw_only=True):
    """A plugin's `backend_settings` schema: what a SLURM-like plugin would declare."""

    default_account: str = "root"
    customer_prefix: str = ""
    project_prefix: str = ""
    allocation_prefix: str = ""
    qos_default: str = "normal"
    qos_downscaled: str = "limited"
    qos_paused: str = "paused"
    cluster_name: str = "cluster"
    homedir_umask: str = "0700"
    enable_user_homedir_account_creation: bool = True
    max_jobs: Annotated[int, msgspec.Meta(ge=1)] = 100


class ComponentExtras(msgspec.Struct, kw_only=True):
    """A plugin's component schema: the keys it adds to each `backend_components` entry."""

    target_components: dict[str, dict[str, float]] = msgspec.field(default_factory=dict)


class Secretive(msgspec.Struct, kw_only=True):
    """A settings schema with a secret in it."""

    db_password: str = ""
