"""Offering users: per-offering accounts of Waldur users, their states and username life cycle."""

from __future__ import annotations

from waldur_site_agent_actors.simulators.waldur import access, render
from waldur_site_agent_actors.simulators.waldur.errors import ApiError, invalid
from waldur_site_agent_actors.simulators.waldur.http import Request, Response, Router, created, ok
from waldur_site_agent_actors.simulators.waldur.listing import boolean, choices, paginate, uuids
from waldur_site_agent_actors.simulators.waldur.listing import one as one_body
from waldur_site_agent_actors.simulators.waldur.state import Obj, State

STATES = (
    "Requested",
    "Creating",
    "Pending account linking",
    "Pending additional validation",
    "OK",
    "Requested deletion",
    "Deleting",
    "Deleted",
    "Error creating",
    "Error deleting",
)
NUMBER = {name: i for i, name in enumerate(STATES, start=1)}
# a username set in one of these states moves the offering user to OK
AUTO_OK_FROM = (
    "Requested",
    "Creating",
    "Pending account linking",
    "Pending additional validation",
    "Error creating",
)

# action: (valid source states, target, keeps comment)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "begin_creating": (("Requested", "Error creating"), "Creating"),
    "set_pending_account_linking": (
        ("Creating", "Error creating", "Pending additional validation"),
        "Pending account linking",
    ),
    "set_pending_additional_validation": (
        ("Creating", "Error creating", "Pending account linking"),
        "Pending additional validation",
    ),
    "set_validation_complete": (
        ("Pending account linking", "Pending additional validation"),
        "OK",
    ),
    "set_error_creating": (
        ("Requested", "Creating", "Pending account linking", "Pending additional validation"),
        "Error creating",
    ),
    "set_ok": (
        (
            "Requested",
            "Creating",
            "Pending additional validation",
            "Pending account linking",
            "Error creating",
            "Error deleting",
        ),
        "OK",
    ),
    "request_deletion": (("OK",), "Requested deletion"),
    "set_deleting": (("Requested deletion", "Error deleting"), "Deleting"),
    "set_deleted": (("Deleting",), "Deleted"),
    "set_error_deleting": (("Requested deletion", "Deleting"), "Error deleting"),
}


def _profile(state: State, ou: Obj) -> Obj:
    user = state.get("users", ou["user"]) or {}
    return {
        "username": user.get("username"),
        "full_name": user.get("full_name"),
        "email": user.get("email"),
        "first_name": user.get("first_name", ""),
        "last_name": user.get("last_name", ""),
    }


def _backend_ids(state: State, ou: Obj) -> list[str]:
    projects = {r["project"] for r in state.find("roles", user=ou["user"])}
    return [
        r["backend_id"]
        for r in state.find("resources", offering=ou["offering"])
        if r["project"] in projects and r.get("backend_id") and r["state"] in ("OK", "Erred")
    ]


def emit(state: State, ou: Obj, action: str, changed: list[str] | None = None) -> None:
    payload: Obj = {
        "offering_user_uuid": ou["uuid"],
        "user_uuid": ou["user"],
        "username": ou.get("username") or "",
        "state": NUMBER[ou["state"]],
        "action": action,
    }
    if action == "username_set":
        payload["resource_backend_ids"] = _backend_ids(state, ou)
    else:
        payload["offering_uuid"] = ou["offering"]
        payload["attributes"] = _profile(state, ou)
        payload["changed_fields"] = changed or []
        payload["changed_attributes"] = changed or []
    state.emit("offering_user", ou["offering"], payload)


def set_username(state: State, ou: Obj, username: str) -> None:
    """The implicit rule: a new non-empty username while being created means OK."""
    changed = username != (ou.get("username") or "")
    ou["username"] = username
    if changed and username and ou["state"] in AUTO_OK_FROM:
        ou["state"] = "OK"
    state.put("offering_users", ou)
    if changed and username:
        emit(state, ou, "username_set")


def create_offering_user(state: State, offering: Obj, user_uuid: str, username: str = "") -> Obj:
    existing = state.first("offering_users", offering=offering["uuid"], user=user_uuid)
    if existing is not None:
        return existing
    policy = offering["plugin_options"].get("username_generation_policy", "service_provider")
    if not username and policy == "waldur_username":
        username = (state.get("users", user_uuid) or {}).get("username", "")
    ou = state.put(
        "offering_users",
        {
            "offering": offering["uuid"],
            "user": user_uuid,
            "username": username or None,
            "state": "OK" if username else "Requested",
            "is_restricted": False,
        },
    )
    emit(state, ou, "create")
    if username:
        emit(state, ou, "username_set")
    return ou


def ensure_offering_users(state: State, offering: Obj, project_uuid: str) -> None:
    """Every member of a project with a live resource of the offering gets an offering user."""
    live = any(
        r["state"] != "Terminated"
        for r in state.find("resources", offering=offering["uuid"], project=project_uuid)
    )
    if not live:
        return
    for role in state.find("roles", project=project_uuid):
        create_offering_user(state, offering, role["user"])


def visible(state: State, user: Obj, ou: Obj) -> bool:
    """Staff see all; a provider only offerings whose users it may create; a user itself."""
    if user["is_staff"] or ou["user"] == user["uuid"]:
        return True
    offering = state.get("offerings", ou["offering"]) or {}
    return bool(
        access.manages_offering(state, user, offering)
        and offering["plugin_options"].get("service_provider_can_create_offering_user")
    )


# HTTP


def list_users(req: Request) -> Response:
    offerings = uuids(req, "offering_uuid")
    users = uuids(req, "user_uuid")
    states = choices(req, "state", STATES)
    restricted = boolean(req, "is_restricted")
    username = req.param("username")
    found = [
        ou
        for ou in req.state.all("offering_users")
        if (offerings is None or ou["offering"] in offerings)
        and (users is None or ou["user"] in users)
        and (states is None or ou["state"] in states)
        and (restricted is None or ou.get("is_restricted", False) == restricted)
        and (username is None or ou.get("username") == username)
        and visible(req.state, req.me, ou)
    ]
    found.reverse()
    return paginate(req, found, lambda ou: render.offering_user(req, ou))


def _one(req: Request) -> Obj:
    return access.lookup(req, "offering_users", req.args[0], "OfferingUser", visible)


def _managed(req: Request) -> Obj:
    ou = _one(req)
    offering = req.state.get("offerings", ou["offering"]) or {}
    access.require(access.manages_offering(req.state, req.me, offering))
    return ou


def retrieve(req: Request) -> Response:
    return one_body(req, render.offering_user(req, _one(req)))


def create(req: Request) -> Response:
    data = req.data()
    offering = access.hyperlink(
        req,
        data,
        "offering",
        ("marketplace-provider-offerings", "marketplace-public-offerings"),
        "offerings",
    )
    user = access.hyperlink(req, data, "user", ("users",), "users")
    access.require(access.manages_offering(req.state, req.me, offering))
    if req.state.first("offering_users", offering=offering["uuid"], user=user["uuid"]):
        raise ApiError(
            400, {"non_field_errors": ["The fields offering, user must make a unique set."]}
        )
    ou = create_offering_user(req.state, offering, user["uuid"], str(data.get("username") or ""))
    return created(render.offering_user(req, ou))


def update(req: Request) -> Response:
    ou = _managed(req)
    data = req.data()
    changed: list[str] = []
    if "username" in data:
        username = data["username"]
        if username is not None and not isinstance(username, str):
            raise invalid("username", "Not a valid string.")
        if len(username or "") > 100:
            raise invalid("username", "Ensure this field has no more than 100 characters.")
        set_username(req.state, ou, username or "")
    for key in ("is_restricted", "service_provider_comment", "service_provider_comment_url"):
        if key in data and data[key] != ou.get(key):
            ou[key] = data[key]
            changed.append(key)
    if changed:
        req.state.put("offering_users", ou)
        emit(req.state, ou, "update", changed)
    return ok(render.offering_user(req, ou))


def transition(action: str):
    sources, target = TRANSITIONS[action]

    def handler(req: Request) -> Response:
        ou = _managed(req)
        if ou["state"] not in sources:
            raise ApiError(
                400,
                {
                    "detail": f"Cannot transition to {target.upper().replace(' ', '_')} from "
                    f"current state: {NUMBER[ou['state']]}. Valid states for operation: "
                    f"{', '.join(sources)}."
                },
            )
        data = req.data()
        ou["state"] = target
        if action.startswith("set_pending"):
            ou["service_provider_comment"] = str(data.get("comment") or "")
            ou["service_provider_comment_url"] = str(data.get("comment_url") or "")
        elif action == "set_validation_complete":
            ou["service_provider_comment"] = ""
            ou["service_provider_comment_url"] = ""
        req.state.put("offering_users", ou)
        return ok()

    return handler


def register(router: Router) -> None:
    base = "/api/marketplace-offering-users/"
    router.add("GET", base, list_users)
    router.add("POST", base, create)
    router.add("GET", base + "{uuid}/", retrieve)
    router.add("PATCH", base + "{uuid}/", update)
    for action in TRANSITIONS:
        router.add("POST", f"{base}{{uuid}}/{action}/", transition(action))
