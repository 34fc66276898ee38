"""Projects of the offering's consumers, as their service provider reads and changes them."""

from __future__ import annotations

from waldur_site_agent_actors.actors.waldur.client import WaldurClient
from waldur_site_agent_actors.actors.waldur.models import ProjectDates


class Projects:
    def __init__(self, client: WaldurClient) -> None:
        self.client = client

    def dates(self, service_provider_uuid: str, project_uuid: str) -> ProjectDates | None:
        """The project's end date and when it changed (the service provider's project list is
        what a provider may read)."""
        found = self.client.get(
            f"marketplace-service-providers/{service_provider_uuid}/projects/",
            list[ProjectDates],
            {"query": project_uuid, "field": ["uuid", "end_date", "end_date_updated_at"]},
        )
        wanted = project_uuid.replace("-", "")
        return next((p for p in found if p.uuid.replace("-", "") == wanted), None)

    def set_end_date(self, uuid: str, end_date: str | None) -> None:
        self.client.send("PATCH", f"projects/{uuid}/", {"end_date": end_date})
