"""Data the core and the plugins exchange: resources, associations, usage reports."""

from __future__ import annotations

from typing import Any

import msgspec

TOTAL_ACCOUNT_USAGE = "TOTAL_ACCOUNT_USAGE"

ComponentAmounts = dict[str, float]
"""Component key -> amount, in Waldur units."""

ResourceUsage = dict[str, ComponentAmounts]
"""`TOTAL_ACCOUNT_USAGE` and one entry per username."""

UsageReport = dict[str, ResourceUsage]
"""Resource backend id -> its usage (the seed's usage report format)."""


class ClientResource(msgspec.Struct, kw_only=True):
    """A resource as the backend system lists it."""

    name: str
    description: str = ""
    organization: str = ""
    backend_id: str = ""


class Association(msgspec.Struct, frozen=True, kw_only=True):
    """A user's link to a backend resource (a SLURM association, a MOAB fund member, ...)."""

    account: str
    user: str
    value: int = 0


class Endpoint(msgspec.Struct, frozen=True):
    name: str
    url: str


class BackendResourceInfo(msgspec.Struct, kw_only=True):
    """What a backend knows of one resource; plugins fill `backend_metadata` in post-create."""

    backend_id: str = ""
    parent_id: str = ""
    effective_id: str = ""
    users: list[str] = msgspec.field(default_factory=list)
    usage: ResourceUsage = msgspec.field(default_factory=dict)
    limits: dict[str, int] = msgspec.field(default_factory=dict)
    pending_order_id: str = ""
    backend_metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    endpoints: list[Endpoint] = msgspec.field(default_factory=list)


class WaldurResource(msgspec.Struct, frozen=True, kw_only=True):
    """A marketplace resource as the core hands it to a plugin, already resolved.

    Plugins never call Waldur; everything they may need of a resource is here.
    """

    uuid: str
    name: str = ""
    slug: str = ""
    backend_id: str = ""
    state: str = ""
    limits: dict[str, float] = msgspec.field(default_factory=dict)
    attributes: dict[str, Any] = msgspec.field(default_factory=dict)
    plan_uuid: str | None = None
    offering_uuid: str = ""
    project_uuid: str = ""
    project_slug: str = ""
    project_name: str = ""
    customer_uuid: str = ""
    customer_slug: str = ""
    customer_name: str = ""
    restrict_member_access: bool = False
    paused: bool = False
    downscaled: bool = False
    end_date: str | None = None
    end_date_updated_at: str | None = None
    effective_id: str = ""
    project_end_date: str | None = None
    project_end_date_updated_at: str | None = None
    """Read only for backends that declare `requires_source_project` (it takes a call)."""
    created: str | None = None

    def with_backend_id(self, backend_id: str) -> WaldurResource:
        return msgspec.structs.replace(self, backend_id=backend_id)


class WaldurUpdates(msgspec.Struct, frozen=True, kw_only=True):
    """What Waldur takes from the backend for one resource where the backend is the source of
    truth (a federated Waldur B: its resource's own id, end dates, limits). A field left unset
    changes nothing; `None` for an end date clears it."""

    effective_id: str | msgspec.UnsetType = msgspec.UNSET
    end_date: str | msgspec.UnsetType | None = msgspec.UNSET
    project_end_date: str | msgspec.UnsetType | None = msgspec.UNSET
    limits: dict[str, float] | msgspec.UnsetType = msgspec.UNSET


def is_linked(offering_username: str | None, offering_user_state: str | None) -> bool:
    """A team member belongs on the backend once their offering user has a name and is OK."""
    return bool(offering_username) and offering_user_state in (None, "OK")


class ImportableResource(msgspec.Struct, frozen=True, kw_only=True):
    """A backend resource Waldur may not know, offered to the project it belongs to."""

    backend_id: str
    name: str
    project_slug: str
    limits: dict[str, float] = msgspec.field(default_factory=dict)
    """In Waldur units: they reach Waldur as the offered resource's `backend_metadata`."""


class OrderDecision(msgspec.Struct, frozen=True):
    """A backend's answer to a pending-provider order."""

    verdict: str  # "accept" | "reject" | "pending"
    reason: str = ""


ACCEPT = OrderDecision("accept")
PENDING = OrderDecision("pending")
