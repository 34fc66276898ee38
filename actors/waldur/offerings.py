"""The offering itself and what hangs off it: plans, provider keys, backend id checks."""

from __future__ import annotations

from waldur_site_agent_actors.actors.waldur.client import WaldurClient
from waldur_site_agent_actors.actors.waldur.models import (
    Offering,
    Plan,
    ProjectAccount,
    ServiceProvider,
    SshKey,
    UniqueBackendId,
)


class Offerings:
    def __init__(self, client: WaldurClient) -> None:
        self.client = client

    def get(self, uuid: str, user_agent: str = "") -> Offering:
        """`user_agent` names the mode asking: Waldur's integration status is made of these."""
        return self.client.get(
            f"marketplace-provider-offerings/{uuid}/",
            Offering,
            {
                "field": [
                    "uuid",
                    "name",
                    "customer_uuid",
                    "state",
                    "components",
                    "plugin_options",
                    "partitions",
                ]
            },
            {"User-Agent": user_agent} if user_agent else None,
        )

    def service_provider(self, customer_uuid: str) -> str | None:
        found = self.client.get(
            "marketplace-service-providers/",
            list[ServiceProvider],
            {"customer_uuid": customer_uuid, "field": "uuid"},
        )
        return found[0].uuid if found else None

    def plan(self, uuid: str) -> Plan:
        return self.client.get(f"marketplace-plans/{uuid}/", Plan)

    def provider_ssh_keys(self, service_provider_uuid: str) -> list[SshKey]:
        return self.client.list(
            f"marketplace-service-providers/{service_provider_uuid}/keys/", SshKey
        )

    def is_backend_id_unique(
        self, offering_uuid: str, backend_id: str, all_offerings: bool = False
    ) -> bool:
        """Whether no resource of the offering (or, with `all_offerings`, of any offering of
        its provider) ever had this backend id."""
        answer = self.client.post(
            f"marketplace-provider-offerings/{offering_uuid}/check_unique_backend_id/",
            {"backend_id": backend_id, "check_all_offerings": all_offerings},
            UniqueBackendId,
            retry=True,
        )
        return bool(answer and answer.is_unique)

    def service_accounts(self, offering_uuid: str) -> list[ProjectAccount]:
        return self.client.list(
            f"marketplace-provider-offerings/{offering_uuid}/list_project_service_accounts/",
            ProjectAccount,
        )

    def course_accounts(self, offering_uuid: str) -> list[ProjectAccount]:
        return self.client.list(
            f"marketplace-provider-offerings/{offering_uuid}/list_course_accounts/", ProjectAccount
        )
