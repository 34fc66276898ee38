"""Marketplace resources: the provider view the agent drives, and the consumer view with orders."""

from __future__ import annotations

from datetime import date

from waldur_site_agent_actors.simulators.waldur import access, render
from waldur_site_agent_actors.simulators.waldur.errors import ApiError, detail, invalid, wrong_state
from waldur_site_agent_actors.simulators.waldur.http import Request, Response, Router, ok
from waldur_site_agent_actors.simulators.waldur.listing import (
    boolean,
    choices,
    order_by,
    paginate,
    uuids,
)
from waldur_site_agent_actors.simulators.waldur.listing import one as one_body
from waldur_site_agent_actors.simulators.waldur.orders import (
    finite_limits,
    place_order,
    set_resource_state,
    valid_limits,
)
from waldur_site_agent_actors.simulators.waldur.state import Obj, State

STATES = ("Creating", "OK", "Erred", "Updating", "Terminating", "Terminated")
PROVIDER = "marketplace-provider-resources"
CONSUMER = "marketplace-resources"
FLAGS = ("downscaled", "paused", "restrict_member_access")
SYNC_SCOPES = ("resource", "resource_project")
SYNC_STATES = ("synced", "pending", "error", "missing_in_idp")


def emit_resource(state: State, r: Obj) -> None:
    state.emit(
        "resource",
        r["offering"],
        {
            "resource_uuid": r["uuid"],
            "resource_backend_id": r.get("backend_id", ""),
            "downscaled": r.get("downscaled", False),
            "restrict_member_access": r.get("restrict_member_access", False),
            "paused": r.get("paused", False),
            "limits": r.get("limits", {}),
        },
    )


def team(state: State, r: Obj, has_consent: bool | None = None) -> list[Obj]:
    """The project's roles; with `has_consent`, only members whose offering user for the
    resource's offering has (or, False, lacks) the offering's consent."""
    roles = state.find("roles", project=r["project"])
    if has_consent is None:
        return roles

    def consented(role: Obj) -> bool:
        ou = state.first("offering_users", offering=r["offering"], user=role["user"])
        return bool(ou and ou.get("has_consent", True))

    return [role for role in roles if consented(role) == has_consent]


def _filtered(req: Request, provider: bool) -> list[Obj]:
    offerings = uuids(req, "offering_uuid")
    projects = uuids(req, "project_uuid")
    customers = uuids(req, "customer_uuid")
    states = choices(req, "state", STATES)
    backend_id = req.param("backend_id")
    name = req.param("name")
    restrict = boolean(req, "restrict_member_access")
    visible = access.sees_resource_as_provider if provider else access.sees_resource
    found = []
    for r in req.state.all("resources"):
        if offerings is not None and r["offering"] not in offerings:
            continue
        if projects is not None and r["project"] not in projects:
            continue
        if states is not None and r["state"] not in states:
            continue
        if backend_id is not None and r.get("backend_id", "") != backend_id:
            continue
        if name is not None and name.lower() not in r["name"].lower():
            continue
        if restrict is not None and r.get("restrict_member_access", False) != restrict:
            continue
        if customers is not None:
            project = req.state.get("projects", r["project"]) or {}
            if project.get("customer") not in customers:
                continue
        if visible(req.state, req.me, r):
            found.append(r)
    found.reverse()
    return found


def list_view(collection: str):
    def handler(req: Request) -> Response:
        found = _filtered(req, collection == PROVIDER)

        def body(r: Obj) -> Obj:
            return render.resource(req, r, collection)

        if req.param("o"):
            order_by(req, found, body, "-created")
        return paginate(req, found, body)

    return handler


def _resource(req: Request, collection: str) -> Obj:
    visible = access.sees_resource_as_provider if collection == PROVIDER else access.sees_resource
    return access.lookup(req, "resources", req.args[0], "Resource", visible)


def _managed(req: Request) -> Obj:
    r = _resource(req, PROVIDER)
    access.require(access.sees_resource_as_provider(req.state, req.me, r))
    return r


def retrieve_view(collection: str):
    def handler(req: Request) -> Response:
        return one_body(req, render.resource(req, _resource(req, collection), collection))

    return handler


def team_view(collection: str):
    def handler(req: Request) -> Response:
        r = _resource(req, collection)
        roles = team(req.state, r, boolean(req, "has_consent"))
        return ok([render.team_member(req, role, r["offering"]) for role in roles])

    return handler


def set_backend_id(req: Request) -> Response:
    r = _managed(req)
    backend_id = req.data().get("backend_id", "")
    if not isinstance(backend_id, str):
        raise invalid("backend_id", "Not a valid string.")
    if r.get("backend_id", "") == backend_id:
        return ok(render.status("Resource backend_id is not changed."))
    r["backend_id"] = backend_id
    req.state.put("resources", r)
    return ok(render.status("Resource backend_id has been changed."))


def set_backend_metadata(req: Request) -> Response:
    r = _managed(req)
    metadata = req.data().get("backend_metadata")
    if not isinstance(metadata, dict):
        raise invalid("backend_metadata", "This field is required.")
    r["backend_metadata"] = metadata
    req.state.put("resources", r)
    return ok(render.status("The backend metadata is updated"))


def set_limits(req: Request) -> Response:
    r = _managed(req)
    limits = req.data().get("limits")
    if not isinstance(limits, dict):
        raise invalid("limits", "This field is required.")
    r["limits"] = finite_limits(limits)
    req.state.put("resources", r)
    return ok(render.status("The resource limits are updated"))


def set_effective_id(req: Request) -> Response:
    """The id a downstream provider gave the resource (a federated Waldur's own backend id)."""
    r = _managed(req)
    effective_id = req.data().get("effective_id", "")
    if not isinstance(effective_id, str):
        raise invalid("effective_id", "Not a valid string.")
    r["effective_id"] = effective_id
    req.state.put("resources", r)
    return ok(render.status("Resource effective_id has been changed."))


def parse_date(value: object) -> str | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError as exc:
        message = "Date has wrong format. Use one of these formats instead: YYYY-MM-DD."
        raise invalid("end_date", message) from exc


def set_end_date(state: State, obj: Obj, user: Obj, end_date: str | None) -> None:
    """A resource's or project's end date, with who changed it and when (for the federation's
    last-change-wins end-date sync)."""
    if obj.get("end_date") != end_date:
        obj["end_date"] = end_date
        obj["end_date_updated_at"] = state.timestamp()
        obj["end_date_requested_by"] = user["uuid"]


def end_date_action(collection: str):
    def handler(req: Request) -> Response:
        if collection == PROVIDER:
            r = _managed(req)
        else:
            r = _consumer_resource(req)
            customer = (req.state.get("projects", r["project"]) or {}).get("customer")
            access.require(req.me["is_staff"] or access.owns_customer(req.state, req.me, customer))
        set_end_date(req.state, r, req.me, parse_date(req.data().get("end_date")))
        req.state.put("resources", r)
        return ok()

    return handler


def set_as_erred(req: Request) -> Response:
    r = _managed(req)
    data = req.data()
    for key in ("error_message", "error_traceback"):
        if data.get(key):
            r[key] = str(data[key])
    set_resource_state(req.state, r, "Erred")
    return ok()


def set_as_ok(req: Request) -> Response:
    r = _managed(req)
    if r["state"] == "OK":
        return ok()
    if r["state"] == "Terminated":
        raise ApiError(500, "Can't switch from state Terminated using method set_ok")
    r["error_message"] = r["error_traceback"] = ""
    set_resource_state(req.state, r, "OK")
    return ok()


def refresh_last_sync(req: Request) -> Response:
    r = _managed(req)
    r["last_sync"] = req.state.timestamp()
    req.state.put("resources", r)
    return ok()


def set_endpoints(req: Request) -> Response:
    r = _managed(req)
    endpoints = req.data().get("endpoints")
    if not isinstance(endpoints, list):
        raise invalid("endpoints", "This field is required.")
    clean = []
    for item in endpoints:
        if not isinstance(item, dict) or not item.get("name") or not item.get("url"):
            raise ApiError(400, {"endpoints": [{"name": ["This field is required."]}]})
        clean.append({"uuid": req.state.new_uuid(), "name": item["name"], "url": item["url"]})
    r["endpoints"] = clean
    req.state.put("resources", r)
    return ok(render.status("Endpoints are set."))


def set_membership_sync_statuses(req: Request) -> Response:
    r = _managed(req)
    offering = req.state.get("offerings", r["offering"]) or {}
    if not offering["plugin_options"].get("enable_membership_sync_status"):
        raise detail(409, "Membership sync status reporting is disabled for this offering.")
    statuses = req.data().get("statuses")
    if not isinstance(statuses, list):
        raise invalid("statuses", "This field is required.")
    stored, skipped = [], []
    for item in statuses:
        ok_item = (
            isinstance(item, dict)
            and item.get("scope_type") in SYNC_SCOPES
            and item.get("state") in SYNC_STATES
            and item.get("role_name")
        )
        if ok_item:
            stored.append(item)
        else:
            skipped.append(str(item.get("username") if isinstance(item, dict) else item))
    r["membership_sync_statuses"] = stored
    req.state.put("resources", r)
    report = {"stored": len(stored), "skipped": skipped}
    return ok(render.complete("MemberSyncStatusReportResult", report))


def flag_action(flag: str):
    def handler(req: Request) -> Response:
        r = _resource(req, CONSUMER)
        offering = req.state.get("offerings", r["offering"]) or {}
        access.require(access.manages_offering(req.state, req.me, offering))
        value = req.data().get(flag)
        if not isinstance(value, bool):
            raise invalid(flag, "Must be a valid boolean.")
        if r.get(flag, False) != value:
            r[flag] = value
            req.state.put("resources", r)
            emit_resource(req.state, r)
        return ok(render.status(f"Resource {flag} has been updated."))

    return handler


# consumer actions that place orders


def _consumer_resource(req: Request) -> Obj:
    r = _resource(req, CONSUMER)
    project = req.state.get("projects", r["project"]) or {"uuid": r["project"]}
    access.require(access.sees_project(req.state, req.me, project))
    return r


def terminate(req: Request) -> Response:
    r = _consumer_resource(req)
    if r["state"] not in ("OK", "Erred"):
        raise wrong_state(("OK", "Erred"))
    attributes = req.data().get("attributes") or {}
    order = place_order(req, "Terminate", r, attributes=attributes)
    return ok(render.order_uuid(order["uuid"]))


def update_limits(req: Request) -> Response:
    r = _consumer_resource(req)
    if r["state"] not in ("OK", "Erred"):
        raise wrong_state(("OK", "Erred"))
    limits = req.data().get("limits")
    if not isinstance(limits, dict):
        raise invalid("limits", "This field is required.")
    limits = valid_limits(req.state.get("offerings", r["offering"]) or {"components": []}, limits)
    if limits == r.get("limits", {}):
        raise ApiError(400, ["Limits are not changed."])
    order = place_order(req, "Update", r, limits=limits)
    return ok(render.order_uuid(order["uuid"]))


def update_options(req: Request) -> Response:
    """Options straight onto the resource, or, when the offering says so
    (`create_orders_on_resource_option_change`), an Update order carrying `new_options` that
    set_state_done merges into them."""
    r = _consumer_resource(req)
    if r["state"] != "OK":
        raise wrong_state(("OK",))
    options = req.data().get("options")
    if not isinstance(options, dict):
        raise invalid("options", "This field is required.")
    if any(
        o["state"] in render.OPEN_ORDER_STATES and "new_options" in o.get("attributes", {})
        for o in req.state.find("orders", resource=r["uuid"])
    ):
        raise detail(409, "There's a pending order for changing resource options.")
    offering = req.state.get("offerings", r["offering"]) or {}
    if offering.get("plugin_options", {}).get("create_orders_on_resource_option_change"):
        order = place_order(req, "Update", r, attributes={"new_options": options})
        # The server answers 200 with the order; `status` keeps the schema's 200 body valid too.
        return ok({**render.status("Order has been created."), "order_uuid": order["uuid"]})
    r["options"] = {**(r.get("options") or {}), **options}
    req.state.put("resources", r)
    return ok(render.status("Resource options have been updated."))


def restore(req: Request) -> Response:
    r = _consumer_resource(req)
    if r["state"] != "Terminated":
        raise wrong_state(("Terminated",))
    offering = req.state.get("offerings", r["offering"]) or {}
    if not offering["plugin_options"].get("can_restore_resource"):
        raise ApiError(400, ["Resource restoration is not allowed for this offering."])
    set_resource_state(req.state, r, "Creating")
    order = place_order(req, "Restore", r, attributes=dict(r.get("attributes", {})))
    return ok(render.order_uuid(order["uuid"]))


def register(router: Router) -> None:
    for collection in (PROVIDER, CONSUMER):
        base = f"/api/{collection}/"
        router.add("GET", base, list_view(collection))
        router.add("GET", base + "{uuid}/", retrieve_view(collection))
        router.add("GET", base + "{uuid}/team/", team_view(collection))
        for flag in FLAGS:
            router.add("POST", f"{base}{{uuid}}/set_{flag}/", flag_action(flag))
        router.add("POST", base + "{uuid}/set_end_date/", end_date_action(collection))
    base = f"/api/{PROVIDER}/{{uuid}}/"
    actions = {
        "set_backend_id": set_backend_id,
        "set_backend_metadata": set_backend_metadata,
        "set_limits": set_limits,
        "set_as_erred": set_as_erred,
        "set_as_ok": set_as_ok,
        "refresh_last_sync": refresh_last_sync,
        "set_endpoints": set_endpoints,
        "set_membership_sync_statuses": set_membership_sync_statuses,
        "set_effective_id": set_effective_id,
    }
    for name, handler in actions.items():
        router.add("POST", f"{base}{name}/", handler)
    base = f"/api/{CONSUMER}/{{uuid}}/"
    router.add("POST", base + "terminate/", terminate)
    router.add("POST", base + "update_limits/", update_limits)
    router.add("POST", base + "restore/", restore)
    router.add("POST", base + "update_options/", update_options)
