"""The Identity Bridge: an identity service domain (ISD) pushes its users' profiles into Waldur.

`POST /api/identity-bridge/` creates or updates the user with that username (the CUID) and marks
the source active for it; `remove/` takes the source away and deactivates a user no source holds
any more; `allowed-fields/` says which profile fields are taken. The caller is staff or manages
the declared source (`managed_isds` on the user, set by the scenario).
"""

from __future__ import annotations

from typing import Any

from waldur_site_agent_actors.simulators.waldur import render
from waldur_site_agent_actors.simulators.waldur.consumer import new_user
from waldur_site_agent_actors.simulators.waldur.errors import ApiError, forbidden, invalid
from waldur_site_agent_actors.simulators.waldur.http import Request, Response, Router, ok
from waldur_site_agent_actors.simulators.waldur.state import Obj

ALLOWED_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "organization",
    "affiliations",
    "phone_number",
    "personal_title",
    "country_of_residence",
    "nationality",
    "nationalities",
    "organization_country",
    "organization_type",
    "eduperson_assurance",
    "identity_source",
)
"""What this Waldur takes (its FEDERATED_IDENTITY_SYNC_ALLOWED_ATTRIBUTES); the request schema
has more (civil_number, gender, birth_date, ...), which it refuses."""
KNOWN_FIELDS = (
    *ALLOWED_FIELDS,
    "civil_number",
    "gender",
    "birth_date",
    "place_of_birth",
    "address",
    "organization_registry_code",
    "organization_vat_code",
    "organization_address",
    "uid_number",
    "primary_gid",
)


def _caller_manages(req: Request, source: str) -> None:
    if not (req.me["is_staff"] or source in req.me.get("managed_isds", [])):
        raise forbidden()


def _identity(req: Request) -> tuple[dict[str, Any], str, str]:
    data = req.data()
    username, source = data.get("username"), data.get("source")
    if not isinstance(username, str) or not username:
        raise invalid("username", "This field is required.")
    if not isinstance(source, str) or not source:
        raise invalid("source", "This field is required.")
    _caller_manages(req, source)
    return data, username, source


def push(req: Request) -> Response:
    data, username, source = _identity(req)
    fields = {k: v for k, v in data.items() if k not in ("username", "source")}
    refused = sorted(k for k in fields if k in KNOWN_FIELDS and k not in ALLOWED_FIELDS)
    if refused:
        message = f"Fields not allowed by Identity Bridge configuration: {', '.join(refused)}"
        raise ApiError(400, {"detail": message})
    taken = {k: v for k, v in fields.items() if k in ALLOWED_FIELDS and v not in (None, "")}
    user = req.state.first("users", username=username)
    created = user is None
    if user is None:  # only what the source sends: no made-up name or address
        user = new_user(req.state, username)
        user.update(full_name="", first_name="", last_name="", email="")
    changed = sorted(k for k, v in taken.items() if user.get(k) != v)
    user.update(taken)
    if "first_name" in taken or "last_name" in taken:
        user["full_name"] = f"{user.get('first_name', '')} {user.get('last_name', '')}".strip()
    sources: list[str] = user.setdefault("active_isds", [])
    if source not in sources:
        sources.append(source)
    user["is_active"] = True
    req.state.put("users", user)
    body = {"uuid": user["uuid"], "created": created, "updated_fields": changed}
    return ok(render.complete("IdentityBridgeResult", body))


def remove(req: Request) -> Response:
    _, username, source = _identity(req)
    user: Obj | None = req.state.first("users", username=username)
    if user is None:
        raise ApiError(404, {"detail": f"User {username} is not found."})
    sources = [s for s in user.get("active_isds", []) if s != source]
    user["active_isds"] = sources
    deactivated = not sources and user["is_active"]
    if deactivated:
        user["is_active"] = False
    req.state.put("users", user)
    body = {"uuid": user["uuid"], "deactivated": deactivated}
    return ok(render.complete("IdentityBridgeRemoveResult", body))


def allowed_fields(req: Request) -> Response:
    if not (req.me["is_staff"] or req.me.get("managed_isds")):
        raise forbidden()
    body = {"allowed_fields": list(ALLOWED_FIELDS)}
    return ok(render.complete("IdentityBridgeAllowedFields", body))


def register(router: Router) -> None:
    router.add("POST", "/api/identity-bridge/", push)
    router.add("POST", "/api/identity-bridge/remove/", remove)
    router.add("GET", "/api/identity-bridge/allowed-fields/", allowed_fields)
