"""What an operator configures for the `mup` backend: `backend_settings` and per-component keys."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

from waldur_site_agent_actors.config.model import BackendSettings

DEFAULT_ALLOCATION_TYPE = "Deucalion x86_64"


class MupSettings(BackendSettings, kw_only=True, forbid_unknown_fields=True):
    """`backend_settings` of the mup plugin; the API account is required, the rest has defaults."""

    api_url: str
    username: str
    password: str
    timeout: Annotated[float, Meta(gt=0)] = 30.0
    """Seconds to wait for one answer of MUP."""
    verify_ssl: bool = True
    allocation_prefix: str = "alloc_"
    """Allocation identifiers are `<allocation_prefix><resource uuid>_<component>`."""
    project_prefix: str = "waldur_"
    """Read by upstream's MUP plugin and used nowhere: MUP projects are found by grant number."""
    default_research_field: int = 1
    default_agency: str = "FCT"
    default_storage_limit: Annotated[int, Meta(ge=0)] = 1000
    """`max_storage` (GB) of the MUP projects the agent creates."""
    # What the agent puts in a MUP registration request for a user that Waldur knows no more of.
    default_user_salutation: str = "Dr."
    default_user_gender: str = "Other"
    default_user_birth_year: int = 1990
    default_user_country: str = "Portugal"
    default_user_institution_type: str = "Academic"
    default_user_institution: str = "Research Institution"
    default_user_biography: str = "Researcher using Waldur site agent for resource allocation"
    user_funding_agency_prefix: str = "WALDUR-SITE-AGENT-"


class MupComponent(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The mup plugin's own key of a `backend_components` entry."""

    mup_allocation_type: str = DEFAULT_ALLOCATION_TYPE
    """The MUP allocation type this component's allocations are created with."""
