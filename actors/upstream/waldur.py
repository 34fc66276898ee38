"""This offering's Waldur as upstream's plugins and processors see it: `waldur_api_client`.

Upstream hands its plugins a Waldur client (`evaluate_pending_order`, the `sync_*` hooks) and
models decoded by `waldur_api_client`; this is where the adapter gets both. It asks Waldur what
upstream's processors ask, with the same field lists, so a model's unset fields are the ones an
upstream plugin finds unset under upstream.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from typing import Any
from uuid import UUID

import httpx
import requests
from waldur_api_client import AuthenticatedClient
from waldur_api_client.api.component_user_usage_limits import component_user_usage_limits_list
from waldur_api_client.api.marketplace_offering_users import marketplace_offering_users_list
from waldur_api_client.api.marketplace_orders import marketplace_orders_retrieve
from waldur_api_client.api.marketplace_provider_offerings import (
    marketplace_provider_offerings_check_unique_backend_id,
    marketplace_provider_offerings_list_course_accounts_list,
    marketplace_provider_offerings_list_project_service_accounts_list,
    marketplace_provider_offerings_retrieve,
    marketplace_provider_offerings_user_attribute_config_retrieve,
)
from waldur_api_client.api.marketplace_provider_resources import (
    marketplace_provider_resources_list,
    marketplace_provider_resources_retrieve,
    marketplace_provider_resources_set_backend_metadata,
    marketplace_provider_resources_set_membership_sync_statuses,
    marketplace_provider_resources_team_list,
)
from waldur_api_client.api.marketplace_service_providers import (
    marketplace_service_providers_list,
    marketplace_service_providers_projects_list,
)
from waldur_api_client.models import (
    CheckUniqueBackendIDRequest,
    OfferingUserFieldEnum,
    ProjectFieldEnum,
    ProviderOfferingDetailsFieldEnum,
    ResourceFieldEnum,
    ServiceProviderFieldEnum,
)
from waldur_api_client.models.member_sync_status_report_request import (
    MemberSyncStatusReportRequest,
)
from waldur_api_client.models.resource_attributes import ResourceAttributes
from waldur_api_client.models.resource_backend_metadata_request import (
    ResourceBackendMetadataRequest,
)
from waldur_api_client.models.resource_backend_metadata_request_backend_metadata import (
    ResourceBackendMetadataRequestBackendMetadata,
)
from waldur_api_client.models.resource_state import ResourceState
from waldur_api_client.types import UNSET, Unset

from waldur_site_agent_actors.actors.waldur.client import OidcToken
from waldur_site_agent_actors.config.model import Offering

# What upstream's processors request of resources, by mode.
MEMBERSHIP_FIELDS = [
    "uuid", "backend_id", "name", "slug", "state", "project_uuid", "project_slug",
    "customer_slug", "restrict_member_access", "backend_metadata", "limits", "paused",
    "downscaled", "attributes", "offering_plugin_options", "offering_backend_id",
    "project_name", "project_description", "customer_uuid", "customer_name", "end_date",
    "end_date_updated_at", "project_end_date",
]  # fmt: skip
REPORT_FIELDS = [
    "uuid", "backend_id", "name", "slug", "state", "project_uuid", "project_slug",
    "customer_slug", "limits", "backend_metadata", "attributes", "offering_plugin_options",
    "offering_backend_id",
]  # fmt: skip
# Offering user fields: always these, plus those the offering's attribute config exposes.
CORE_USER_FIELDS = ["user_uuid", "username", "url", "state", "uuid"]
EXPOSED_USER_FIELDS = {
    "username": ["user_username"],
    "full_name": ["user_full_name", "user_first_name", "user_last_name"],
    "email": ["user_email"],
    "phone_number": ["user_phone_number"],
    "organization": ["user_organization"],
    "job_title": ["user_job_title"],
    "affiliations": ["user_affiliations"],
    "gender": ["user_gender"],
    "personal_title": ["user_personal_title"],
    "place_of_birth": ["user_place_of_birth"],
    "country_of_residence": ["user_country_of_residence"],
    "nationality": ["user_nationality"],
    "nationalities": ["user_nationalities"],
    "organization_country": ["user_organization_country"],
    "organization_type": ["user_organization_type"],
    "organization_registry_code": ["user_organization_registry_code"],
    "eduperson_assurance": ["user_eduperson_assurance"],
    "civil_number": ["user_civil_number"],
    "birth_date": ["user_birth_date"],
    "identity_source": ["user_identity_source"],
    "active_isds": ["user_active_isds"],
}
DEFAULT_EXPOSED = ["username", "full_name", "email"]
ATTRIBUTE_CONFIG_SECONDS = 300.0
"""Upstream reads an offering's attribute config at most this often."""
ACTIONABLE_USER_STATES = (
    "OK", "Requested", "Creating", "Error creating", "Pending account linking",
    "Pending additional validation",
)  # fmt: skip


class OidcAuth(httpx.Auth):
    """Bearer tokens from the OIDC provider, renewed before they expire."""

    def __init__(self, token: OidcToken) -> None:
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        request.headers["Authorization"] = self.token.header()
        yield request


def api_root(api_url: str) -> str:
    """`https://w.example.org/api/` -> `https://w.example.org`: the client's paths hold `/api`."""
    root = api_url.rstrip("/")
    return root.removesuffix("/api")


def client_for(offering: Offering, proxy: str = "", user_agent: str = "") -> AuthenticatedClient:
    httpx_args: dict[str, Any] = {"proxy": proxy} if proxy else {}
    token, prefix = offering.waldur_api_token, "Token"
    if not token and offering.oidc_token_url and offering.oidc_client_id:
        session = requests.Session()
        session.verify = offering.verify_ssl
        oidc = OidcToken(
            session,
            proxy,
            offering.oidc_token_url,
            offering.oidc_client_id,
            offering.oidc_client_secret or "",
        )
        httpx_args["auth"] = OidcAuth(oidc)
        prefix = "Bearer"
    return AuthenticatedClient(
        base_url=api_root(offering.waldur_api_url),
        token=token,
        prefix=prefix,
        timeout=httpx.Timeout(120.0),
        headers={"User-Agent": user_agent} if user_agent else {},
        verify_ssl=offering.verify_ssl,
        httpx_args=httpx_args,
    )


def fields(names: list[str]) -> list[ResourceFieldEnum]:
    return [ResourceFieldEnum(name) for name in names]


class Attributes(ResourceAttributes):
    """A resource's attributes as upstream's model holds them, answering `.get` as well: the
    Plugin Development Guide's example reads them as a dict (`attributes.get("ssh_public_key",
    "")`), which upstream's own model does not allow."""

    def get(self, key: str, default: Any = None) -> Any:
        return self.additional_properties.get(key, default)


def as_plugins_get_it(resource: Any) -> Any:
    if isinstance(resource.attributes, ResourceAttributes):
        resource.attributes = Attributes.from_dict(resource.attributes.additional_properties)
    return resource


class UpstreamWaldur:
    def __init__(self, offering: Offering, client: AuthenticatedClient) -> None:
        self.offering = offering
        self.client = client
        self._exposed: tuple[list[str], float] | None = None

    @property
    def uuid(self) -> UUID:
        return UUID(self.offering.waldur_offering_uuid)

    def resources(self, states: list[str], names: list[str]) -> list[Any]:
        listed = marketplace_provider_resources_list.sync_all(
            client=self.client,
            offering_uuid=[self.uuid],
            state=[ResourceState(state) for state in states],
            field=fields(names),
        )
        return [as_plugins_get_it(resource) for resource in listed]

    def resources_of_project(self, project_uuid: str, states: list[str]) -> list[Any]:
        return marketplace_provider_resources_list.sync_all(
            client=self.client,
            project_uuid=UUID(project_uuid),
            state=[ResourceState(state) for state in states],
            field=fields(["uuid", "project_uuid"]),
        )

    def resource(self, uuid: str) -> Any:
        found = marketplace_provider_resources_retrieve.sync(uuid=UUID(uuid), client=self.client)
        return as_plugins_get_it(found)

    def resource_with_backend_id(self, backend_id: str) -> Any | None:
        found = marketplace_provider_resources_list.sync_all(
            client=self.client, offering_uuid=[self.uuid], backend_id=backend_id
        )
        return as_plugins_get_it(found[0]) if found else None

    def order(self, uuid: str) -> Any:
        return marketplace_orders_retrieve.sync(uuid=UUID(uuid), client=self.client)

    def offering_details(self) -> Any:
        return marketplace_provider_offerings_retrieve.sync(
            client=self.client,
            uuid=self.uuid,
            field=[
                ProviderOfferingDetailsFieldEnum.COMPONENTS,
                ProviderOfferingDetailsFieldEnum.CUSTOMER_UUID,
                ProviderOfferingDetailsFieldEnum.PARTITIONS,
                ProviderOfferingDetailsFieldEnum.PLUGIN_OPTIONS,
            ],
        )

    def service_provider(self, customer_uuid: Any) -> Any:
        providers = marketplace_service_providers_list.sync(
            customer_uuid=customer_uuid,
            client=self.client,
            field=[ServiceProviderFieldEnum.UUID],
        )
        return providers[0] if providers else None

    def team(self, resource_uuid: str, has_consent: bool | Unset = UNSET) -> list[Any]:
        return (
            marketplace_provider_resources_team_list.sync(
                uuid=UUID(resource_uuid), client=self.client, has_consent=has_consent
            )
            or []
        )

    def exposed_fields(self) -> list[str]:
        """The offering's exposed user attributes (its attribute config), read at most every
        five minutes; the usual three when Waldur has no config to give."""
        now = time.monotonic()
        if self._exposed is None or now - self._exposed[1] >= ATTRIBUTE_CONFIG_SECONDS:
            try:
                config = marketplace_provider_offerings_user_attribute_config_retrieve.sync(
                    uuid=self.uuid, client=self.client
                )
                exposed = list(config.exposed_fields or [])
            except Exception:
                exposed = list(DEFAULT_EXPOSED)
            self._exposed = (exposed, now)
        return self._exposed[0]

    def offering_users(self) -> list[Any]:
        names = list(CORE_USER_FIELDS)
        for exposed in self.exposed_fields():
            names.extend(EXPOSED_USER_FIELDS.get(exposed, []))
        return marketplace_offering_users_list.sync_all(
            client=self.client,
            offering_uuid=[self.uuid],
            is_restricted=False,
            field=[OfferingUserFieldEnum(name) for name in names],
        )

    def source_project(self, provider_uuid: str, project_uuid: str) -> Any | None:
        projects = marketplace_service_providers_projects_list.sync(
            UUID(provider_uuid),
            client=self.client,
            query=project_uuid,
            field=[
                ProjectFieldEnum.OECD_FOS_2007_CODE,
                ProjectFieldEnum.IS_INDUSTRY,
                ProjectFieldEnum.SCIENCE_SUB_DOMAIN_CODE,
                ProjectFieldEnum.END_DATE_UPDATED_AT,
            ],
        )
        return projects[0] if projects and len(projects) == 1 else None

    def is_unique(self, backend_id: str, check_all_offerings: bool) -> bool:
        answer = marketplace_provider_offerings_check_unique_backend_id.sync(
            uuid=self.uuid,
            client=self.client,
            body=CheckUniqueBackendIDRequest(
                backend_id=backend_id, check_all_offerings=check_all_offerings
            ),
        )
        return bool(answer.is_unique)

    def service_accounts(self) -> list[Any]:
        return marketplace_provider_offerings_list_project_service_accounts_list.sync_all(
            self.uuid, client=self.client
        )

    def course_accounts(self) -> list[Any]:
        return marketplace_provider_offerings_list_course_accounts_list.sync_all(
            self.uuid, client=self.client
        )

    def user_limits(self, resource_uuid: str) -> list[Any]:
        return component_user_usage_limits_list.sync_all(
            client=self.client, resource_uuid=UUID(resource_uuid)
        )

    def set_backend_metadata(self, resource_uuid: str, metadata: dict[str, Any]) -> None:
        marketplace_provider_resources_set_backend_metadata.sync(
            uuid=UUID(resource_uuid),
            client=self.client,
            body=ResourceBackendMetadataRequest(
                backend_metadata=ResourceBackendMetadataRequestBackendMetadata.from_dict(metadata)
            ),
        )

    def set_membership_statuses(self, resource_uuid: UUID, statuses: list[dict[str, Any]]) -> None:
        marketplace_provider_resources_set_membership_sync_statuses.sync_detailed(
            resource_uuid,
            client=self.client,
            body=MemberSyncStatusReportRequest.from_dict({"statuses": statuses}),
        )
