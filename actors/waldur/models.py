"""Waldur's objects, as far as the agent reads them. Unknown keys are ignored when decoding.

Amounts must be numbers: a limit of `NaN` or `Infinity` (which no valid JSON holds, but a
server may send) makes its object unreadable rather than reach a backend.
"""

from __future__ import annotations

import math
from typing import Any

import msgspec


class Model(msgspec.Struct, kw_only=True, frozen=True):
    pass


def finite(field: str, amounts: dict[str, float] | None) -> None:
    for key, value in (amounts or {}).items():
        if not math.isfinite(value):
            raise ValueError(f"{field}.{key} is {value!r}, not a finite number")


class Order(Model, frozen=True):
    uuid: str
    type: str = ""
    state: str = ""
    resource_name: str | None = None
    marketplace_resource_uuid: str | None = None
    limits: dict[str, float] = msgspec.field(default_factory=dict)
    attributes: dict[str, Any] = msgspec.field(default_factory=dict)
    plan_uuid: str | None = None
    backend_id: str | None = None
    project_uuid: str | None = None
    customer_uuid: str | None = None
    offering_uuid: str | None = None
    created: str | None = None
    error_message: str | None = None

    def __post_init__(self) -> None:
        finite("limits", self.limits)


class Resource(Model, frozen=True):
    uuid: str
    name: str = ""
    slug: str = ""
    backend_id: str | None = None
    state: str = ""
    limits: dict[str, float] | None = None
    attributes: dict[str, Any] | None = None
    plan_uuid: str | None = None
    offering_uuid: str | None = None
    project_uuid: str | None = None
    project_slug: str | None = None
    project_name: str | None = None
    customer_uuid: str | None = None
    customer_slug: str | None = None
    customer_name: str | None = None
    restrict_member_access: bool | None = False
    paused: bool | None = False
    downscaled: bool | None = False
    end_date: str | None = None
    end_date_updated_at: str | None = None
    effective_id: str | None = None
    project_end_date: str | None = None
    created: str | None = None
    backend_metadata: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        finite("limits", self.limits)


class OfferingComponent(Model, frozen=True):
    type: str
    billing_type: str = ""
    measured_unit: str | None = None
    name: str | None = None
    uuid: str | None = None
    limit_amount: float | None = None
    limit_period: str | None = None


class OfferingPartition(Model, frozen=True):
    partition_name: str | None = None


class Offering(Model, frozen=True):
    uuid: str | None = None
    name: str | None = None
    customer_uuid: str | None = None
    state: str | None = None
    components: list[OfferingComponent] = msgspec.field(default_factory=list)
    plugin_options: dict[str, Any] | None = None
    partitions: list[OfferingPartition] | None = None

    @property
    def partition_names(self) -> list[str]:
        return sorted({p.partition_name for p in self.partitions or [] if p.partition_name})


class TeamMember(Model, frozen=True):
    uuid: str
    username: str = ""
    full_name: str | None = None
    email: str | None = None
    role: str | None = None
    offering_user_username: str | None = None
    offering_user_state: str | None = None


class OfferingUser(Model, frozen=True):
    uuid: str
    user_uuid: str | None = None
    username: str | None = None
    state: str | None = None
    user_full_name: str | None = None
    user_email: str | None = None
    user_username: str | None = None
    url: str | None = None
    created: str | None = None
    is_restricted: bool | None = None
    # The profile fields Waldur shows the provider (the offering's user attribute config):
    # handed to plugins that push profiles on (the federation's identity bridge).
    user_first_name: str | None = None
    user_last_name: str | None = None
    user_organization: str | None = None
    user_affiliations: list[str] | None = None
    user_phone_number: str | None = None
    user_civil_number: str | None = None
    user_personal_title: str | None = None
    user_place_of_birth: str | None = None
    user_country_of_residence: str | None = None
    user_nationality: str | None = None
    user_nationalities: list[str] | None = None
    user_organization_country: str | None = None
    user_organization_type: str | None = None
    user_eduperson_assurance: list[str] | None = None
    user_identity_source: str | None = None
    user_gender: int | str | None = None
    user_birth_date: str | None = None


class ComponentUsage(Model, frozen=True):
    uuid: str
    type: str = ""
    usage: str | float = 0
    billing_period: str | None = None
    resource_uuid: str | None = None


class ComponentUserUsage(Model, frozen=True):
    uuid: str | None = None
    component_usage: str | None = None
    component_type: str | None = None
    username: str | None = None
    usage: str | float = 0


class UserUsageLimit(Model, frozen=True):
    user: str
    component_type: str
    limit: str | float | None = None


class Plan(Model, frozen=True):
    uuid: str
    quotas: dict[str, float] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        finite("quotas", self.quotas)


class ServiceProvider(Model, frozen=True):
    uuid: str


class SshKey(Model, frozen=True):
    uuid: str
    public_key: str = ""
    user_uuid: str | None = None


class ProjectDates(Model, frozen=True):
    """A project's end date and when it last changed, as its service provider reads it."""

    uuid: str
    end_date: str | None = None
    end_date_updated_at: str | None = None


class UserMe(Model, frozen=True):
    uuid: str | None = None
    username: str | None = None
    is_staff: bool | None = None


class Version(Model, frozen=True):
    version: str


class Identity(Model, frozen=True):
    uuid: str
    name: str = ""


class Service(Model, frozen=True):
    uuid: str
    name: str = ""


class Processor(Model, frozen=True):
    uuid: str
    name: str = ""


class EventSubscription(Model, frozen=True):
    uuid: str
    user_uuid: str


class SubscriptionQueue(Model, frozen=True):
    queue_name: str
    vhost: str


class UnifiedQueue(Model, frozen=True):
    queue_name: str
    rmq_username: str
    vhost: str
    observable_object_types: list[str] = msgspec.field(default_factory=list)


class ProjectAccount(Model, frozen=True):
    """A project service account or a course account: both only need a username and a state."""

    uuid: str
    username: str | None = None
    project_uuid: str | None = None
    state: str | None = None


class UniqueBackendId(Model, frozen=True):
    is_unique: bool


class ResourceApiKey(Model, frozen=True):
    """One credential of a resource; its secret is never read back from Waldur."""

    uuid: str
    resource_uuid: str | None = None
    resource_backend_id: str | None = None
    client_id: str | None = None
    state: str | None = None
    modified: str | None = None


class BackendResourceRequest(Model, frozen=True):
    """Waldur asking for the backend's resources (`importable_resources`)."""

    uuid: str
    state: str = ""
    offering: str | None = None
    created: str | None = None


class OrderCreated(Model, frozen=True):
    order_uuid: str
