"""`backend_settings` and per-component keys of the federation plugin, checked by `validate`."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from waldur_site_agent_actors.backends.component_mapping import TargetComponent
from waldur_site_agent_actors.config.model import BackendSettings

Seconds = Annotated[float, Meta(gt=0)]


class WaldurSettings(BackendSettings, kw_only=True, forbid_unknown_fields=True):
    """Where Waldur B is and how this agent acts there."""

    target_api_url: str
    target_api_token: str
    target_offering_uuid: str
    target_customer_uuid: str
    user_match_field: Literal["cuid", "email", "username"] = "cuid"
    user_not_found_action: Literal["warn", "fail"] = "warn"
    order_poll_timeout: Annotated[float, Meta(ge=0)] = 300.0
    """A Waldur B order unfinished after this many seconds fails its order here; 0: no limit."""
    order_poll_interval: Seconds = 5.0
    """How often Waldur B orders in flight are checked, besides the order_process cycle."""
    passthrough_attributes: list[str] = msgspec.field(default_factory=list)
    """Order attributes copied to the Waldur B order as they are."""
    target_verify_ssl: bool = True
    target_timeout: Seconds = 30.0
    target_stomp_enabled: bool = False
    """Listen to Waldur B's order events, so a finished B order finishes ours at once."""
    target_stomp_ws_host: str = ""
    """Default: the host of `target_api_url`."""
    target_stomp_ws_port: Annotated[int, Meta(ge=1, le=65535)] | None = None
    """Default: 443 with TLS, 80 without."""
    target_stomp_ws_path: str = "/rmqws-stomp"
    target_websocket_use_tls: bool = True
    user_resolve_method: Literal["identity_bridge", "remote_eduteams", "user_field"] = (
        "identity_bridge"
    )
    """How a user here is found on Waldur B. Upstream's default, which needs
    `identity_bridge_source`: a file that leaves both out finds nobody, as upstream's does."""
    identity_bridge_source: str = ""
    """The identity service domain this agent pushes users as (e.g. `isd:efp`)."""
    role_mapping: dict[str, str] = msgspec.field(default_factory=dict)
    """Project role here -> role on Waldur B; unmapped roles go as they are."""
    end_date_sync_direction: Literal["bidirectional", "a_to_b", "b_to_a", "disabled"] = (
        "bidirectional"
    )
    limit_sync_direction: Literal["b_to_a", "disabled"] = "b_to_a"
    """`b_to_a`: limits changed on Waldur B (by its provider) become the limits here."""
    fetch_consented_users_only: bool = False
    """Only users who consented to the offering (of any resource in the project) reach B."""


class WaldurComponent(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The plugin's own keys of a `backend_components` entry."""

    target_components: dict[str, TargetComponent] = msgspec.field(default_factory=dict)
    """Empty: passthrough, the component has the same name and amount on Waldur B."""
