"""`user_context`: the Waldur data a plugin may need for a resource, resolved before the call.

Plugins never talk to Waldur; this is what they get instead (team, offering users, SSH keys of
the service provider, plan quotas).
"""

from __future__ import annotations

from typing import Any

from actors.context import OfferingContext
from actors.waldur.models import Resource


def resolve_user_context(
    waldur: Any, backend: Any, context: OfferingContext, resource: Resource
) -> dict[str, Any]:
    team = waldur.resources.team(resource.uuid).get()
    offering_users = waldur.offering_users.of_offering(context.uuid).get()
    team_uuids = {member.uuid for member in team}
    offering = waldur.offerings.get(context.uuid).get()
    ssh_keys: dict[str, str] = {}
    provider = (
        waldur.offerings.service_provider(offering.customer_uuid).get()
        if offering.customer_uuid
        else None
    )
    if provider:
        backend.set_service_provider(provider)
        for key in waldur.offerings.provider_ssh_keys(provider).get():
            ssh_keys[key.uuid] = key.public_key
    plan_quotas = (
        waldur.offerings.plan(resource.plan_uuid).get().quotas if resource.plan_uuid else {}
    )
    return {
        "team": [
            {
                "uuid": t.uuid,
                "username": t.username,
                "full_name": t.full_name,
                "email": t.email,
                "role": t.role,
                "offering_user_username": t.offering_user_username,
                "offering_user_state": t.offering_user_state,
            }
            for t in team
        ],
        "offering_users": [
            {"uuid": u.uuid, "user_uuid": u.user_uuid, "username": u.username, "state": u.state}
            for u in offering_users
            if u.user_uuid in team_uuids
        ],
        "ssh_keys": ssh_keys,
        "plan_quotas": plan_quotas,
    }


def is_linked(offering_username: str | None, offering_user_state: str | None) -> bool:
    """A team member belongs on the backend once their offering user has a name and is OK."""
    return bool(offering_username) and offering_user_state in (None, "OK")


def member_details(team: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """`add_users_to_resource` keyword arguments for the linked members of a team (upstream's
    `user_emails` and `user_attributes`), so a backend that registers accounts itself (MUP) can."""
    linked = [
        t for t in team if is_linked(t.get("offering_user_username"), t.get("offering_user_state"))
    ]
    return {
        "user_emails": {t["offering_user_username"]: t["email"] for t in linked if t.get("email")},
        "user_attributes": {
            t["offering_user_username"]: {
                "email": t.get("email") or "",
                "full_name": t.get("full_name") or "",
            }
            for t in linked
        },
    }
