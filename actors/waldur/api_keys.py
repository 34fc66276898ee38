"""Resource API keys: credentials of a resource that Waldur keeps encrypted and shows to its
team. The agent mints them on the backend and reports them (`report_created`), and carries out
rotations the team asks for (`set_key`, or `set_erred`)."""

from __future__ import annotations

from waldur_site_agent_actors.actors.waldur.client import WaldurClient
from waldur_site_agent_actors.actors.waldur.models import ResourceApiKey

BASE = "marketplace-resource-api-keys/"


class ApiKeys:
    def __init__(self, client: WaldurClient) -> None:
        self.client = client

    def of_resource(self, resource_uuid: str) -> list[ResourceApiKey]:
        return self.client.list(BASE, ResourceApiKey, {"resource_uuid": resource_uuid})

    def rotating(self, offering_uuid: str, modified_before: str | None) -> list[ResourceApiKey]:
        """The offering's keys waiting for a rotation (`Updating`), asked for before then."""
        params = {"offering_uuid": offering_uuid, "state": "Updating"}
        if modified_before:
            params["modified_before"] = modified_before
        return self.client.list(BASE, ResourceApiKey, params)

    def report_created(self, resource_uuid: str, client_id: str, api_key: str) -> None:
        body = {"resource": resource_uuid, "client_id": client_id, "api_key": api_key}
        self.client.post(f"{BASE}report_created/", body)

    def set_key(self, uuid: str, api_key: str, client_id: str | None) -> None:
        body = {"api_key": api_key, **({"client_id": client_id} if client_id else {})}
        self.client.post(f"{BASE}{uuid}/set_key/", body)

    def set_erred(self, uuid: str, message: str) -> None:
        self.client.post(f"{BASE}{uuid}/set_erred/", {"error_message": message}, retry=True)
