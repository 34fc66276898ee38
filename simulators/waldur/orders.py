"""Marketplace orders: creation, consumer and provider actions, and their effect on resources."""

from __future__ import annotations

import math
from datetime import date, timedelta

from waldur_site_agent_actors.simulators.waldur import access, render
from waldur_site_agent_actors.simulators.waldur.errors import detail, invalid, wrong_state
from waldur_site_agent_actors.simulators.waldur.http import Request, Response, Router, created, ok
from waldur_site_agent_actors.simulators.waldur.listing import (
    a_datetime,
    choices,
    order_by,
    paginate,
    parse_stamp,
    uuids,
)
from waldur_site_agent_actors.simulators.waldur.listing import one as one_body
from waldur_site_agent_actors.simulators.waldur.offering_users import ensure_offering_users
from waldur_site_agent_actors.simulators.waldur.slugs import unique_slug
from waldur_site_agent_actors.simulators.waldur.state import Obj, State, isoformat

STATES = (
    "pending-consumer",
    "pending-provider",
    "pending-project",
    "pending-start-date",
    "executing",
    "done",
    "erred",
    "canceled",
    "rejected",
)
TYPES = ("Create", "Update", "Terminate", "Restore")
AGENT_TYPES = ("Marketplace.Slurm",)
DONE_TYPES = ("Marketplace.Slurm", "Marketplace.Basic", "Support.OfferingTemplate")
CONSUMER_APPROVERS = ("PROJECT.ADMIN", "PROJECT.MANAGER")


def emit_order(state: State, order: Obj) -> None:
    resource = state.get("resources", order["resource"]) or {}
    offering = state.get("offerings", resource.get("offering")) or {}
    if offering.get("type") in AGENT_TYPES:
        state.emit(
            "order",
            offering["uuid"],
            {"order_uuid": order["uuid"], "order_state": order["state"]},
        )


def set_order_state(state: State, order: Obj, new_state: str) -> None:
    order["state"] = new_state
    if new_state in ("done", "rejected", "canceled", "erred"):
        order["completed_at"] = state.timestamp()
    state.put("orders", order)
    emit_order(state, order)


def set_resource_state(state: State, resource: Obj, new_state: str) -> None:
    resource["state"] = new_state
    state.put("resources", resource)


def place_order(
    req: Request,
    order_type: str,
    resource: Obj,
    *,
    limits: dict[str, object] | None = None,
    attributes: dict[str, object] | None = None,
    plan: str | None = None,
) -> Obj:
    """A new order on `resource`, in the state the caller's role leads to, and its coupling."""
    state, user = req.state, req.me
    project = state.get("projects", resource["project"]) or {}
    role = access.project_role(state, user, project.get("uuid"))
    auto_approved = (
        user["is_staff"]
        or access.owns_customer(state, user, project.get("customer"))
        or role in CONSUMER_APPROVERS
    )
    order = {
        "type": order_type,
        "state": "pending-provider" if auto_approved else "pending-consumer",
        "resource": resource["uuid"],
        "offering": resource["offering"],
        "project": resource["project"],
        "plan": plan or resource.get("plan"),
        "old_plan": resource.get("plan") if order_type == "Update" else None,
        "limits": dict(limits if limits is not None else resource.get("limits", {})),
        "attributes": dict(attributes or {}),
        "created_by": user["uuid"],
    }
    if auto_approved:
        order.update(consumer_reviewed_by=user["uuid"], consumer_reviewed_at=state.timestamp())
    state.put("orders", order)
    if order_type == "Update":
        order["attributes"].setdefault("old_limits", dict(resource.get("limits", {})))
        if resource["state"] != "Erred":
            set_resource_state(state, resource, "Updating")
    elif order_type == "Terminate" and resource["state"] != "Erred":
        set_resource_state(state, resource, "Terminating")
    emit_order(state, order)
    return order


def tick(state: State, resend_after: timedelta = timedelta(hours=1)) -> None:
    """Mastermind's periodic order tasks: start orders whose start date has come, and announce
    again the orders still waiting for the provider after `resend_after`."""
    now = state.now()
    today = now.date().isoformat()
    for order in list(state.all("orders")):
        last = parse_stamp(order.get("announced") or order["modified"])
        if order["state"] == "pending-start-date" and order["start_date"] <= today:
            set_order_state(state, order, "executing")
        elif order["state"] in ("pending-provider", "executing") and now - last >= resend_after:
            order["announced"] = isoformat(now)  # in memory only: `modified` stays as it was
            emit_order(state, order)


def on_done(state: State, order: Obj) -> None:
    resource = state.get("resources", order["resource"])
    if resource is None:
        return
    if order["type"] == "Terminate":
        set_resource_state(state, resource, "Terminated")
        for key in state.find("api_keys", resource=resource["uuid"]):
            state.remove("api_keys", key["uuid"])
        return
    if order["type"] == "Update":
        resource["limits"] = dict(order.get("limits", {}))
        if order.get("plan"):
            resource["plan"] = order["plan"]
        new_options = order.get("attributes", {}).get("new_options")
        if isinstance(new_options, dict):
            resource["options"] = {**(resource.get("options") or {}), **new_options}
    set_resource_state(state, resource, "OK")


def on_erred(state: State, order: Obj) -> None:
    resource = state.get("resources", order["resource"])
    if resource is None:
        return
    if order["type"] in ("Create", "Restore"):
        target = "Erred" if resource.get("backend_id") else "Terminated"
    else:
        target = "OK" if order["type"] == "Terminate" else "Erred"
    set_resource_state(state, resource, target)


def on_closed(state: State, order: Obj) -> None:
    """Rejected or canceled: a new resource is dropped, an existing one is left as it was."""
    resource = state.get("resources", order["resource"])
    if resource is None:
        return
    target = "Terminated" if order["type"] in ("Create", "Restore") else "OK"
    set_resource_state(state, resource, target)


# HTTP


def _order(req: Request) -> Obj:
    return access.lookup(req, "orders", req.args[0], "Order", access.sees_order)


def _offering(req: Request, order: Obj) -> Obj:
    return req.state.get("offerings", order["offering"]) or {}


def _provider_order(req: Request) -> Obj:
    order = _order(req)
    access.require(access.manages_offering(req.state, req.me, _offering(req, order)))
    return order


def _check_state(order: Obj, valid: tuple[str, ...]) -> None:
    if order["state"] not in valid:
        raise wrong_state(valid)


def _check_type(req: Request, order: Obj, types: tuple[str, ...]) -> None:
    offering_type = _offering(req, order).get("type")
    if offering_type not in types:
        message = f"The order's offering with {offering_type} type does not support this action"
        raise detail(405, f'Method "{message}" not allowed.')


def list_orders(req: Request) -> Response:
    offerings = uuids(req, "offering_uuid")
    resources = uuids(req, "resource_uuid")
    projects = uuids(req, "project_uuid")
    customers = uuids(req, "customer_uuid")
    providers = uuids(req, "provider_uuid")
    states = choices(req, "state", STATES)
    types = choices(req, "type", TYPES)
    before = a_datetime(req, "modified_before")
    after = a_datetime(req, "modified_after")
    state, user = req.state, req.me
    provider_customers = (
        {sp["customer"] for sp in state.all("service_providers") if sp["uuid"] in providers}
        if providers is not None
        else None
    )
    found = []
    for order in state.all("orders"):
        if offerings is not None and order["offering"] not in offerings:
            continue
        if resources is not None and order["resource"] not in resources:
            continue
        if projects is not None and order["project"] not in projects:
            continue
        if states is not None and order["state"] not in states:
            continue
        if types is not None and order["type"] not in types:
            continue
        if before is not None and parse_stamp(order["modified"]) >= before:
            continue
        if after is not None and parse_stamp(order["modified"]) < after:
            continue
        if customers is not None:
            project = state.get("projects", order["project"]) or {}
            if project.get("customer") not in customers:
                continue
        if provider_customers is not None:
            offering = state.get("offerings", order["offering"]) or {}
            if offering.get("customer") not in provider_customers:
                continue
        if access.sees_order(state, user, order):
            found.append(order)
    found.reverse()  # newest first, like `-created`

    def body(o: Obj) -> Obj:
        return render.order(req, o)

    if req.param("o"):
        order_by(req, found, body, "-created")
    return paginate(req, found, body)


def retrieve(req: Request) -> Response:
    return one_body(req, render.order(req, _order(req)))


def create(req: Request) -> Response:
    data = req.data()
    offering = access.hyperlink(
        req, data, "offering", ("marketplace-public-offerings",), "offerings"
    )
    project = access.hyperlink(req, data, "project", ("projects",), "projects")
    if not access.sees_project(req.state, req.me, project):
        raise invalid("project", "Invalid hyperlink - Object does not exist.")
    plan = None
    if data.get("plan"):
        plan = access.hyperlink(
            req, data, "plan", ("marketplace-public-plans", "marketplace-plans"), "plans"
        )
        if plan["offering"] != offering["uuid"]:
            raise invalid("plan", "This plan is not available for selected offering.")
    order_type = data.get("type", "Create")
    if order_type != "Create":
        raise invalid("type", "Only Create orders are placed here; use the resource actions.")
    limits = valid_limits(offering, data.get("limits") or {})
    start_date = data.get("start_date")
    if start_date is not None:
        try:
            start_date = date.fromisoformat(str(start_date)).isoformat()
        except ValueError as exc:
            raise invalid("start_date", "Date has wrong format. Use YYYY-MM-DD.") from exc
    attributes = data.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise invalid("attributes", "Expected a dictionary of items.")
    name = str(attributes.get("name") or f"{offering['slug']}-{req.state.counter + 1}")
    resource = req.state.put(
        "resources",
        {
            "name": name,
            "slug": unique_slug(req.state, "resources", name),
            "offering": offering["uuid"],
            "project": project["uuid"],
            "plan": plan["uuid"] if plan else None,
            "state": "Creating",
            "backend_id": "",
            "limits": limits,
            "attributes": attributes,
            "backend_metadata": {},
            "endpoints": [],
            "current_usages": {},
        },
    )
    order = place_order(
        req, "Create", resource, limits=limits, attributes=attributes, plan=resource["plan"]
    )
    if start_date:
        order["start_date"] = start_date
        req.state.put("orders", order)
    ensure_offering_users(req.state, offering, project["uuid"])
    return created(render.order(req, order))


def takes_limit(component: Obj) -> bool:
    """Mastermind's rule for which components an order may give a limit
    (`marketplace/utils.py` `get_components_map`): those billed by limit, and one-time
    components that are prepaid (`is_prepaid`: billed upfront for the limit, and again for a
    change of it)."""
    billing = component["billing_type"]
    return billing == "limit" or (billing == "one" and bool(component.get("is_prepaid")))


def valid_limits(offering: Obj, limits: object) -> dict[str, object]:
    """An order's limits as Mastermind's serializer takes them: components of the offering
    that take a limit, each a finite number >= 0 (`NaN` or `Infinity` is refused, not stored)."""
    if not isinstance(limits, dict):
        raise invalid("limits", "Expected a dictionary of items.")
    allowed = {c["type"] for c in offering["components"] if takes_limit(c)}
    wrong = sorted(k for k in limits if k not in allowed)
    if wrong:
        raise invalid("limits", f"Invalid types: {', '.join(wrong)}")
    return finite_limits(limits)


def finite_limits(limits: dict[str, object]) -> dict[str, object]:
    for key, value in limits.items():
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value < 0
        ):
            raise invalid("limits", f"Invalid value for {key}: {value}")
    return dict(limits)


def approve_by_provider(req: Request) -> Response:
    order = _provider_order(req)
    _check_state(order, ("pending-provider",))
    data = req.data()
    if isinstance(data.get("attributes"), dict):
        order["attributes"] = {**order.get("attributes", {}), **data["attributes"]}
    order["provider_reviewed_by"] = req.me["uuid"]
    order["provider_reviewed_at"] = req.state.timestamp()
    if order.get("start_date") and order["start_date"] > req.state.now().date().isoformat():
        set_order_state(req.state, order, "pending-start-date")
        detail = "Order is pending start date."
        return ok(render.complete("OrderInfoResponse", {"detail": detail}))
    set_order_state(req.state, order, "executing")
    detail = "Order has been approved and is being processed."
    return ok(render.complete("OrderInfoResponse", {"detail": detail}))


def reject_by_provider(req: Request) -> Response:
    order = _provider_order(req)
    _check_state(order, ("pending-provider",))
    comment = req.data().get("provider_rejection_comment")
    if comment:
        order["provider_rejection_comment"] = str(comment)
    order["provider_reviewed_by"] = req.me["uuid"]
    order["provider_reviewed_at"] = req.state.timestamp()
    set_order_state(req.state, order, "rejected")
    on_closed(req.state, order)
    return ok()


def set_state_executing(req: Request) -> Response:
    order = _provider_order(req)
    _check_state(order, ("pending-consumer", "pending-provider", "erred"))
    _check_type(req, order, AGENT_TYPES)
    set_order_state(req.state, order, "executing")
    return ok()


def set_state_done(req: Request) -> Response:
    order = _provider_order(req)
    _check_state(order, ("executing",))
    _check_type(req, order, DONE_TYPES)
    set_order_state(req.state, order, "done")
    on_done(req.state, order)
    return ok()


def set_state_erred(req: Request) -> Response:
    order = _provider_order(req)
    _check_type(req, order, AGENT_TYPES)
    data = req.data()
    order["error_message"] = str(data.get("error_message") or "")
    order["error_traceback"] = str(data.get("error_traceback") or "")
    if order["state"] == "executing":
        set_order_state(req.state, order, "erred")
        on_erred(req.state, order)
    else:
        req.state.put("orders", order)
    return ok()


def set_backend_id(req: Request) -> Response:
    order = _provider_order(req)
    backend_id = req.data().get("backend_id")
    if not isinstance(backend_id, str):
        raise invalid("backend_id", "This field is required.")
    if order.get("backend_id", "") == backend_id:
        return ok(render.status("Order backend_id is not changed."))
    order["backend_id"] = backend_id
    req.state.put("orders", order)
    return ok(render.status("Order backend_id has been changed."))


def _consumer_order(req: Request) -> Obj:
    order = _order(req)
    project = req.state.get("projects", order["project"]) or {}
    role = access.project_role(req.state, req.me, order["project"])
    access.require(
        req.me["is_staff"]
        or access.owns_customer(req.state, req.me, project.get("customer"))
        or role in CONSUMER_APPROVERS
    )
    return order


def approve_by_consumer(req: Request) -> Response:
    order = _consumer_order(req)
    _check_state(order, ("pending-consumer",))
    order.update(consumer_reviewed_by=req.me["uuid"], consumer_reviewed_at=req.state.timestamp())
    set_order_state(req.state, order, "pending-provider")
    return ok(render.complete("OrderInfoResponse", {"detail": "Order has been approved."}))


def reject_by_consumer(req: Request) -> Response:
    order = _consumer_order(req)
    _check_state(order, ("pending-consumer",))
    set_order_state(req.state, order, "rejected")
    on_closed(req.state, order)
    return ok()


def cancel(req: Request) -> Response:
    order = _order(req)
    access.require(req.me["uuid"] == order.get("created_by") or req.me["is_staff"])
    _check_state(order, ("pending-consumer", "pending-provider", "pending-project"))
    set_order_state(req.state, order, "canceled")
    on_closed(req.state, order)
    return ok()


def register(router: Router) -> None:
    base = "/api/marketplace-orders/"
    router.add("GET", base, list_orders)
    router.add("POST", base, create)
    router.add("GET", base + "{uuid}/", retrieve)
    actions = {
        "approve_by_provider": approve_by_provider,
        "reject_by_provider": reject_by_provider,
        "set_state_executing": set_state_executing,
        "set_state_done": set_state_done,
        "set_state_erred": set_state_erred,
        "set_backend_id": set_backend_id,
        "approve_by_consumer": approve_by_consumer,
        "reject_by_consumer": reject_by_consumer,
        "cancel": cancel,
    }
    for name, handler in actions.items():
        router.add("POST", f"{base}{{uuid}}/{name}/", handler)
