"""Waldur's STOMP payloads into typed messages. Pure functions: decode, never act.

A message that cannot be decoded, or of a type this agent does not handle, gives None and a
reason; the STOMP actor logs it and acknowledges it so it does not block the queue forever.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from waldur_site_agent_actors.actors import messages as m

MAX_PAYLOAD = 256 * 1024  # Waldur's messages are a few hundred bytes; anything huge is hostile

ORDER_TYPES = ("order",)
MEMBERSHIP_TYPES = (
    "user_role",
    "resource",
    "service_account",
    "course_account",
    "offering_user",
    "offering_resources_sync",
)
IGNORED_ORDER_STATES = frozenset(
    {
        "done",
        "erred",
        "canceled",
        "rejected",
        "pending-consumer",
        "pending-project",
        "pending-start-date",
    }
)


UUID = re.compile(r"[0-9a-f]{32}|[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", re.IGNORECASE)
UUID_FIELDS = (
    "order_uuid",
    "user_uuid",
    "project_uuid",
    "resource_uuid",
    "offering_user_uuid",
    "policy_uuid",
    "backend_resource_request_uuid",
    "api_key_uuid",
)
PERIODIC_TYPES = ("resource_periodic_limits",)
IMPORT_TYPES = ("importable_resources",)
API_KEY_TYPES = ("resource_api_key_rotation",)


class Payload(msgspec.Struct, kw_only=True):
    """Every key any handled event type carries; all optional, extra keys ignored."""

    object_type: str | None = None
    order_uuid: str | None = None
    order_state: str | None = None
    user_uuid: str | None = None
    user_username: str | None = None
    project_uuid: str | None = None
    role_name: str | None = None
    granted: bool | None = None
    resource_uuid: str | None = None
    offering_user_uuid: str | None = None
    username: str | None = None
    action: str | None = None
    account_username: str | None = None
    policy_uuid: str | None = None
    settings: dict[str, Any] | None = None
    backend_resource_request_uuid: str | None = None
    resource_backend_id: str | None = None
    api_key_uuid: str | None = None
    client_id: str | None = None


def object_type_of_queue(queue_name: str) -> str | None:
    """Legacy per-type queues end with the type: `subscription_<s>_offering_<o>_<type>`."""
    marker = queue_name.find("_offering_")
    if marker < 0:
        return None
    rest = queue_name[marker + len("_offering_") :]
    return rest.split("_", 1)[1] if "_" in rest else None


def decode(
    body: bytes | str, queue_name: str, ack: m.Acknowledgement | None
) -> tuple[m.Message | None, str]:
    """(message, "") or (None, why it is dropped)."""
    raw = body.encode() if isinstance(body, str) else body
    if len(raw) > MAX_PAYLOAD:
        return None, f"payload of {len(raw)} bytes is over the {MAX_PAYLOAD} byte limit"
    try:
        payload = msgspec.json.decode(raw, type=Payload)
    except msgspec.DecodeError as exc:
        return None, f"not a valid event payload: {exc}"
    for name in UUID_FIELDS:
        # They end up in URL paths: `../../users/me` must not reach another endpoint.
        value = getattr(payload, name)
        if value is not None and not UUID.fullmatch(value):
            return None, f"{name} {value[:40]!r} is not a UUID"
    kind = payload.object_type or object_type_of_queue(queue_name)
    if kind == "order":
        if not payload.order_uuid:
            return None, "order event without order_uuid"
        if payload.order_state in IGNORED_ORDER_STATES:
            return None, f"order {payload.order_uuid} is {payload.order_state}: nothing to do"
        return m.OrderChanged(
            order_uuid=payload.order_uuid, order_state=payload.order_state or "", ack=ack
        ), ""
    if kind == "user_role":
        if not payload.project_uuid:
            return None, "user_role event without project_uuid"
        return m.RoleChanged(
            project_uuid=payload.project_uuid,
            user_uuid=payload.user_uuid,
            user_username=payload.user_username,
            role_name=payload.role_name,
            granted=payload.granted,
            resource_uuid=payload.resource_uuid,
            ack=ack,
        ), ""
    if kind == "resource":
        if not payload.resource_uuid:
            return None, "resource event without resource_uuid"
        return m.ResourceChanged(resource_uuid=payload.resource_uuid, ack=ack), ""
    if kind in ("service_account", "course_account"):
        if not payload.project_uuid:
            return None, f"{kind} event without project_uuid"
        return m.ProjectAccountChanged(
            project_uuid=payload.project_uuid,
            account_username=payload.account_username,
            action=payload.action or "create",
            ack=ack,
        ), ""
    if kind == "offering_user":
        return m.OfferingUserChanged(
            offering_user_uuid=payload.offering_user_uuid,
            user_uuid=payload.user_uuid,
            username=payload.username,
            action=payload.action,
            ack=ack,
        ), ""
    if kind == "resource_periodic_limits":
        if not (payload.resource_uuid and payload.policy_uuid and payload.settings is not None):
            return None, "resource_periodic_limits event without resource, policy or settings"
        return m.PeriodicSettingsRequested(
            resource_uuid=payload.resource_uuid,
            policy_uuid=payload.policy_uuid,
            settings=payload.settings,
            ack=ack,
        ), ""
    if kind == "importable_resources":
        if not payload.backend_resource_request_uuid:
            return None, "importable_resources event without backend_resource_request_uuid"
        return m.ImportRequested(request_uuid=payload.backend_resource_request_uuid, ack=ack), ""
    if kind == "resource_api_key_rotation":
        if not payload.resource_uuid:
            return None, "resource_api_key_rotation event without resource_uuid"
        return m.KeyRotationRequested(
            action=payload.action or "",
            resource_uuid=payload.resource_uuid,
            resource_backend_id=payload.resource_backend_id or "",
            api_key_uuid=payload.api_key_uuid or "",
            client_id=payload.client_id or "",
            ack=ack,
        ), ""
    if kind == "offering_resources_sync":
        return m.ResyncRequested(ack=ack), ""
    return None, f"event type {kind!r} is not handled by this agent"
