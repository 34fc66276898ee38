"""Resource import: Waldur's requests for the backend's resources (`backend-resource-requests`,
Sent -> Processing -> Done/Erred), and the backend resources offered to projects in answer
(`backend-resources`), which a project's user may then import as marketplace resources."""

from __future__ import annotations

from typing import Any

from waldur_site_agent_actors.actors.waldur.client import WaldurClient
from waldur_site_agent_actors.actors.waldur.models import BackendResourceRequest
from waldur_site_agent_actors.actors.waldur.offerings import Offerings
from waldur_site_agent_actors.actors.waldur.resources import Resources
from waldur_site_agent_actors.backends.structures import ImportableResource

KNOWN_STATES = ("Creating", "OK", "Erred", "Updating")
"""Resources of the offering whose backend ids are not offered again."""


class BackendImports:
    def __init__(self, client: WaldurClient) -> None:
        self.client = client
        self._projects: dict[str, str] | None = None

    def request(self, uuid: str) -> BackendResourceRequest:
        return self.client.get(f"backend-resource-requests/{uuid}/", BackendResourceRequest)

    def waiting(self, offering_uuid: str) -> list[BackendResourceRequest]:
        """The offering's requests nobody took up yet (their event was missed)."""
        return self.client.list(
            "backend-resource-requests/",
            BackendResourceRequest,
            {"offering_uuid": offering_uuid, "state": "Sent"},
        )

    def start(self, uuid: str) -> None:
        self.client.post(f"backend-resource-requests/{uuid}/start_processing/")

    def done(self, uuid: str) -> None:
        self.client.post(f"backend-resource-requests/{uuid}/set_done/", retry=True)

    def erred(self, uuid: str, message: str, traceback: str = "") -> None:
        body = {"error_message": message, "error_traceback": traceback}
        self.client.post(f"backend-resource-requests/{uuid}/set_erred/", body, retry=True)

    def offer(
        self, offering_uuid: str, found: list[ImportableResource], dry_run: bool = False
    ) -> list[str]:
        """Offer each backend resource Waldur does not hold to its project, once; returns a
        line per resource saying what became of it (`dry_run`: nothing is sent)."""
        self._projects = None  # read afresh: projects come and go between requests
        known = {
            r.backend_id
            for r in Resources(self.client).of_offering(offering_uuid, KNOWN_STATES)
            if r.backend_id
        }
        said = []
        for resource in found:
            if resource.backend_id in known:
                continue
            project = self.project_by_slug(offering_uuid, resource.project_slug)
            if project is None:
                said.append(f"{resource.backend_id}: no project {resource.project_slug}")
                continue
            query = {
                "backend_id": resource.backend_id,
                "project_uuid": project,
                "offering_uuid": offering_uuid,
            }
            if self.client.list("backend-resources/", dict, query):
                continue  # offered before, not imported yet
            said.append(f"{resource.backend_id}: offered to project {resource.project_slug}")
            if not dry_run:
                self.client.post("backend-resources/", _offered(offering_uuid, project, resource))
        return said

    def project_by_slug(self, offering_uuid: str, slug: str) -> str | None:
        """`projects/?slug=` where the token sees projects, else among the projects the
        offering's service provider serves (listed once)."""
        found = self.client.list("projects/", dict, {"slug": slug, "field": ["uuid", "slug"]})
        if len(found) == 1:
            return str(found[0]["uuid"])
        if self._projects is None:
            self._projects = self._provider_projects(offering_uuid)
        return self._projects.get(slug)

    def _provider_projects(self, offering_uuid: str) -> dict[str, str]:
        offerings = Offerings(self.client)
        customer = offerings.get(offering_uuid).customer_uuid
        provider = offerings.service_provider(customer) if customer else None
        if not provider:
            return {}
        rows = self.client.list(f"marketplace-service-providers/{provider}/projects/", dict)
        return {str(p["slug"]): str(p["uuid"]) for p in rows if p.get("slug")}


def _offered(offering_uuid: str, project: str, resource: ImportableResource) -> dict[str, Any]:
    return {
        "name": resource.name,
        "project": project,
        "offering": offering_uuid,
        "backend_id": resource.backend_id,
        "backend_metadata": {"limits": resource.limits},
    }
