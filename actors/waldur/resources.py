"""Marketplace resources, provider side."""

from __future__ import annotations

from typing import Any

from waldur_site_agent_actors.actors.waldur.client import WaldurClient
from waldur_site_agent_actors.actors.waldur.models import Resource, TeamMember

RESOURCE_FIELDS = [
    "uuid",
    "name",
    "slug",
    "backend_id",
    "state",
    "limits",
    "attributes",
    "plan_uuid",
    "offering_uuid",
    "project_uuid",
    "project_slug",
    "project_name",
    "customer_uuid",
    "customer_slug",
    "customer_name",
    "restrict_member_access",
    "paused",
    "downscaled",
    "end_date",
    "end_date_updated_at",
    "effective_id",
    "project_end_date",
    "created",
    "backend_metadata",
]


class Resources:
    def __init__(self, client: WaldurClient) -> None:
        self.client = client

    def get(self, uuid: str) -> Resource:
        return self.client.get(
            f"marketplace-provider-resources/{uuid}/", Resource, {"field": RESOURCE_FIELDS}
        )

    def of_offering(self, offering_uuid: str, states: tuple[str, ...]) -> list[Resource]:
        return self.client.list(
            "marketplace-provider-resources/",
            Resource,
            {"offering_uuid": offering_uuid, "state": list(states), "field": RESOURCE_FIELDS},
        )

    def of_project(self, project_uuid: str, states: tuple[str, ...]) -> list[Resource]:
        """The resources of a project this provider sees, of any of its offerings."""
        return self.client.list(
            "marketplace-provider-resources/",
            Resource,
            {"project_uuid": project_uuid, "state": list(states), "field": ["uuid"]},
        )

    def team(self, uuid: str, consented_only: bool = False) -> list[TeamMember]:
        """The project team; with `consented_only`, those who consented to the offering."""
        params = {"has_consent": "true"} if consented_only else None
        return self.client.get_list(
            f"marketplace-provider-resources/{uuid}/team/", TeamMember, params
        )

    def _action(self, uuid: str, action: str, body: dict[str, Any] | None = None) -> None:
        self.client.post(f"marketplace-provider-resources/{uuid}/{action}/", body, retry=True)

    def set_backend_id(self, uuid: str, backend_id: str) -> None:
        self._action(uuid, "set_backend_id", {"backend_id": backend_id})

    def set_limits(self, uuid: str, limits: dict[str, float]) -> None:
        self._action(uuid, "set_limits", {"limits": limits})

    def set_effective_id(self, uuid: str, effective_id: str) -> None:
        self._action(uuid, "set_effective_id", {"effective_id": effective_id})

    def set_end_date(self, uuid: str, end_date: str | None) -> None:
        self._action(uuid, "set_end_date", {"end_date": end_date})

    def set_backend_metadata(self, uuid: str, metadata: dict[str, Any]) -> None:
        self._action(uuid, "set_backend_metadata", {"backend_metadata": metadata})

    def set_endpoints(self, uuid: str, endpoints: list[dict[str, str]]) -> None:
        self._action(uuid, "set_endpoints", {"endpoints": endpoints})

    def set_erred(self, uuid: str, message: str, traceback: str = "") -> None:
        self._action(uuid, "set_as_erred", {"error_message": message, "error_traceback": traceback})

    def set_ok(self, uuid: str) -> None:
        self._action(uuid, "set_as_ok")

    def report_periodic_settings(
        self, policy_uuid: str, resource_uuid: str, result: dict[str, Any]
    ) -> None:
        """What applying a periodic usage policy's settings did, for the policy's history."""
        self.client.post(
            f"marketplace-slurm-periodic-usage-policies/{policy_uuid}/report-command-result/",
            {
                "resource_uuid": resource_uuid,
                "success": bool(result.get("success")),
                "error_message": str(result.get("error") or ""),
                "commands_executed": [str(c) for c in result.get("commands_executed") or []],
            },
            retry=True,
        )

    def set_membership_sync_statuses(self, uuid: str, statuses: list[dict[str, Any]]) -> None:
        self._action(uuid, "set_membership_sync_statuses", {"statuses": statuses})

    def refresh_last_sync(self, uuid: str) -> None:
        self._action(uuid, "refresh_last_sync")
