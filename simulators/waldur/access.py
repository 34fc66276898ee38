"""Who may see and do what: staff, customer owners (service providers), project members."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlparse

from waldur_site_agent_actors.simulators.waldur import render
from waldur_site_agent_actors.simulators.waldur.errors import forbidden, invalid, not_found
from waldur_site_agent_actors.simulators.waldur.http import Request
from waldur_site_agent_actors.simulators.waldur.state import Obj, State, parse_uuid

PROJECT_ROLES = ("PROJECT.ADMIN", "PROJECT.MANAGER", "PROJECT.MEMBER")
# Roles are Waldur objects too: clients may name one by its UUID (upstream's federation plugin
# looks the UUID up by name). Fixed per name, so every simulator agrees.
ROLE_UUIDS = {name: render.role_uuid(name) for name in PROJECT_ROLES}


def role_name(value: object) -> str | None:
    """A project role given by name or by UUID (dashed or not), as its name."""
    if not isinstance(value, str):
        return None
    key = value.replace("-", "").lower()
    return next((name for name, uuid in ROLE_UUIDS.items() if uuid == key), value)


def owns_customer(state: State, user: Obj, customer_uuid: str | None) -> bool:
    c = state.get("customers", customer_uuid)
    return c is not None and user["uuid"] in c.get("owners", [])


def provides_for(state: State, user: Obj, customer_uuid: str | None) -> bool:
    """Staff, or an owner or service manager of the (provider) customer."""
    customer = state.get("customers", customer_uuid) or {}
    staff_of = customer.get("owners", []) + customer.get("service_managers", [])
    return bool(user["is_staff"]) or user["uuid"] in staff_of


def manages_offering(state: State, user: Obj, offering: Obj) -> bool:
    """The provider's staff (see `provides_for`) and the offering's managers."""
    if user["uuid"] in offering.get("managers", []):
        return True
    return provides_for(state, user, offering.get("customer"))


def project_role(state: State, user: Obj, project_uuid: str | None) -> str | None:
    for role in state.find("roles", project=project_uuid, user=user["uuid"]):
        return str(role["role"])
    return None


def sees_project(state: State, user: Obj, project: Obj) -> bool:
    return (
        user["is_staff"]
        or owns_customer(state, user, project.get("customer"))
        or project_role(state, user, project["uuid"]) is not None
    )


def sees_resource_as_provider(state: State, user: Obj, resource: Obj) -> bool:
    offering = state.get("offerings", resource["offering"]) or {}
    return manages_offering(state, user, offering)


def sees_resource(state: State, user: Obj, resource: Obj) -> bool:
    project = state.get("projects", resource["project"]) or {"uuid": resource["project"]}
    return sees_project(state, user, project) or sees_resource_as_provider(state, user, resource)


def sees_order(state: State, user: Obj, order: Obj) -> bool:
    resource = state.get("resources", order["resource"])
    return resource is not None and sees_resource(state, user, resource)


def lookup(
    req: Request,
    kind: str,
    raw: str,
    model: str,
    visible: Callable[[State, Obj, Obj], bool] | None = None,
) -> Obj:
    """The object at `raw` (dashed or not) the caller may see, else 404 as DRF words it."""
    obj = req.state.get(kind, parse_uuid(raw))
    if obj is None or (visible is not None and not visible(req.state, req.me, obj)):
        raise not_found(model)
    return obj


def require(allowed: bool) -> None:
    if not allowed:
        raise forbidden()


def require_staff(req: Request) -> None:
    require(bool(req.me["is_staff"]))


def hyperlink(
    req: Request, data: dict[str, object], field: str, collections: tuple[str, ...], kind: str
) -> Obj:
    """Resolve a hyperlinked (or plain UUID) body field the way DRF's related fields answer."""
    raw = data.get(field)
    if raw in (None, ""):
        raise invalid(field, "This field is required.")
    if not isinstance(raw, str):
        raise invalid(field, "Incorrect type. Expected URL string, received int.")
    uuid = parse_uuid(raw)
    if uuid is None:
        parts = [p for p in urlparse(raw).path.split("/") if p]
        if len(parts) < 3 or parts[-2] not in collections:
            raise invalid(field, "Invalid hyperlink - Incorrect URL match.")
        uuid = parse_uuid(parts[-1])
    obj = req.state.get(kind, uuid)
    if obj is None:
        raise invalid(field, "Invalid hyperlink - Object does not exist.")
    return obj
