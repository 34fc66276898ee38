"""Offerings, plans, service providers and their keys and projects; users, `me`, version."""

from __future__ import annotations

from waldur_site_agent_actors.simulators.waldur import access, render
from waldur_site_agent_actors.simulators.waldur.errors import ApiError, invalid
from waldur_site_agent_actors.simulators.waldur.http import Request, Response, Router, created, ok
from waldur_site_agent_actors.simulators.waldur.listing import choices, paginate, uuids
from waldur_site_agent_actors.simulators.waldur.listing import one as one_body
from waldur_site_agent_actors.simulators.waldur.state import Obj, parse_uuid

VERSION = "7.9.0"
BILLING_TYPES = ("fixed", "usage", "limit", "one", "few")
LIMIT_PERIODS = ("month", "quarterly", "annual", "total")


def _offerings(req: Request) -> list[Obj]:
    customers = uuids(req, "customer_uuid")
    states = choices(req, "state", ("Draft", "Active", "Paused", "Archived", "Unavailable"))
    name = req.param("name")
    return [
        o
        for o in req.state.all("offerings")
        if (customers is None or o["customer"] in customers)
        and (states is None or o["state"] in states)
        and (name is None or name.lower() in o["name"].lower())
    ]


def list_offerings(req: Request) -> Response:
    return paginate(req, _offerings(req), lambda o: render.offering(req, o))


def list_public_offerings(req: Request) -> Response:
    return paginate(req, _offerings(req), lambda o: render.offering(req, o, public=True))


def _offering(req: Request) -> Obj:
    return access.lookup(req, "offerings", req.args[0], "Offering")


def _managed_offering(req: Request) -> Obj:
    o = _offering(req)
    access.require(access.manages_offering(req.state, req.me, o))
    return o


def retrieve_offering(req: Request) -> Response:
    return one_body(req, render.offering(req, _offering(req)))


def retrieve_public_offering(req: Request) -> Response:
    return one_body(req, render.offering(req, _offering(req), public=True))


COMPONENT_FIELDS = (
    "type",
    "name",
    "description",
    "billing_type",
    "measured_unit",
    "unit_factor",
    "limit_period",
    "limit_amount",
    "article_code",
    "max_value",
    "min_value",
    "max_available_limit",
    "is_boolean",
    "default_limit",
    "is_prepaid",
)
PREPAID_FIELDS = (
    "min_prepaid_duration",
    "max_prepaid_duration",
    "prepaid_duration_step",
    "min_renewal_duration",
    "max_renewal_duration",
    "renewal_duration_step",
)


def _component_body(req: Request, existing: Obj | None = None) -> Obj:
    """The writable fields of a component as Mastermind's serializer validates them: all required
    ones on create, any subset on update (a partial update of `existing`)."""
    data = req.data()
    for key in ("type", "name", "billing_type"):
        if (existing is None or key in data) and not data.get(key):
            raise invalid(key, "This field is required.")
    if data.get("billing_type") not in (None, *BILLING_TYPES):
        raise invalid("billing_type", f'"{data["billing_type"]}" is not a valid choice.')
    if data.get("limit_period") not in (None, *LIMIT_PERIODS):
        raise invalid("limit_period", f'"{data["limit_period"]}" is not a valid choice.')
    body = {k: data[k] for k in (*COMPONENT_FIELDS, *PREPAID_FIELDS) if k in data}
    if body.get("is_boolean"):  # a checkbox in the UI: Mastermind fixes its range and period
        body.update(min_value=0, max_value=1, limit_period="month", limit_amount=None)
    prepaid = body.get("is_prepaid", (existing or {}).get("is_prepaid", False))
    for key in PREPAID_FIELDS:
        if key in body and not prepaid:
            raise invalid(key, "This field can only be set on prepaid components.")
    for what in ("prepaid", "renewal"):
        low, high = body.get(f"min_{what}_duration"), body.get(f"max_{what}_duration")
        if low is not None and high is not None and low > high:
            raise invalid(
                f"min_{what}_duration", f"Minimum {what} duration must not exceed the maximum."
            )
    return body


def create_component(req: Request) -> Response:
    o = _managed_offering(req)
    component = _component_body(req)
    if any(c["type"] == component["type"] for c in o["components"]):
        raise ApiError(400, [f"Component {component['type']} already exists."])
    o["components"].append({"uuid": req.state.new_uuid(), **component})
    req.state.put("offerings", o)
    return created()


def update_component(req: Request) -> Response:
    """Mastermind's: the component named by `uuid`, partially updated; an unknown one is a 404
    without a body."""
    o = _managed_offering(req)
    wanted = req.data().get("uuid")
    if not wanted:
        raise ApiError(400, {"details": "UUID for offering component was not provided."})
    for existing in o["components"]:
        if existing["uuid"] == parse_uuid(wanted):
            existing.update(_component_body(req, existing))
            req.state.put("offerings", o)
            return ok()
    return Response(404, None)


def check_unique_backend_id(req: Request) -> Response:
    o = _managed_offering(req)
    data = req.data()
    backend_id = data.get("backend_id")
    if not isinstance(backend_id, str) or not backend_id:
        raise invalid("backend_id", "This field is required.")
    everywhere = bool(data.get("check_all_offerings"))
    taken = any(
        r.get("backend_id") == backend_id
        for r in req.state.all("resources")
        if (everywhere or r["offering"] == o["uuid"]) and r["state"] != "Terminated"
    )
    body = {"is_unique": not taken, "is_valid_format": True, "errors": []}
    return ok(render.complete("CheckUniqueBackendIDResponse", body))


def user_attribute_config(req: Request) -> Response:
    o = _offering(req)
    exposed = o.get("exposed_fields", render.EXPOSED_FIELDS)
    body = {
        "uuid": o.get("attribute_config_uuid", o["uuid"]),
        "created": o["created"],
        "modified": o["modified"],
        "exposed_fields": exposed,
        "is_default": "exposed_fields" not in o,
        "offering_uuid": o["uuid"],
        "offering_name": o["name"],
        **{f"expose_{name}": True for name in exposed},
    }
    return ok(render.complete("OfferingUserAttributeConfig", body))


def _accounts_of(req: Request, kind: str) -> list[Obj]:
    o = _managed_offering(req)
    projects = {
        r["project"]
        for r in req.state.find("resources", offering=o["uuid"])
        if r["state"] != "Terminated"
    }
    return [a for a in req.state.all(kind) if a["project"] in projects]


def list_course_accounts(req: Request) -> Response:
    return paginate(
        req, _accounts_of(req, "course_accounts"), lambda a: render.course_account(req, a)
    )


def list_service_accounts(req: Request) -> Response:
    return paginate(
        req, _accounts_of(req, "service_accounts"), lambda a: render.service_account(req, a)
    )


def list_plans(req: Request) -> Response:
    offerings = uuids(req, "offering_uuid")
    found = [p for p in req.state.all("plans") if offerings is None or p["offering"] in offerings]
    return paginate(req, found, lambda p: render.plan(req, p))


def retrieve_plan(req: Request) -> Response:
    return one_body(req, render.plan(req, access.lookup(req, "plans", req.args[0], "Plan")))


def list_providers(req: Request) -> Response:
    customers = uuids(req, "customer_uuid")
    found = [
        sp
        for sp in req.state.all("service_providers")
        if customers is None or sp["customer"] in customers
    ]
    return paginate(req, found, lambda sp: render.service_provider(req, sp))


def _provider(req: Request) -> Obj:
    return access.lookup(req, "service_providers", req.args[0], "ServiceProvider")


def retrieve_provider(req: Request) -> Response:
    return one_body(req, render.service_provider(req, _provider(req)))


def _provider_projects(req: Request, sp: Obj) -> list[str]:
    access.require(access.provides_for(req.state, req.me, sp["customer"]))
    offerings = {o["uuid"] for o in req.state.find("offerings", customer=sp["customer"])}
    seen: dict[str, None] = {}
    for r in req.state.all("resources"):
        if r["offering"] in offerings and r["state"] != "Terminated":
            seen[r["project"]] = None
    return list(seen)


def provider_keys(req: Request) -> Response:
    sp = _provider(req)
    users = {
        role["user"]
        for p in _provider_projects(req, sp)
        for role in req.state.find("roles", project=p)
    }
    found = [k for k in req.state.all("ssh_keys") if k["user"] in users]
    return paginate(req, found, lambda k: render.ssh_key(req, k))


def provider_projects(req: Request) -> Response:
    sp = _provider(req)
    query = (req.param("query") or "").lower()
    found = []
    for uuid in _provider_projects(req, sp):
        p = req.state.get("projects", uuid) or {}
        if not query or query in p["name"].lower() or query in p["uuid"]:
            found.append(p)
    return paginate(req, found, lambda p: render.project(req, p))


def list_users(req: Request) -> Response:
    username, email = req.param("username"), req.param("email")
    found = [
        u
        for u in req.state.all("users")
        if (username is None or u["username"] == username)
        and (email is None or email.lower() in u["email"].lower())
        and (req.me["is_staff"] or u["uuid"] == req.me["uuid"] or not u["is_staff"])
    ]
    return paginate(req, found, lambda u: render.user(req, u))


def retrieve_user(req: Request) -> Response:
    return one_body(req, render.user(req, access.lookup(req, "users", req.args[0], "User")))


def remote_eduteams(req: Request) -> Response:
    """The user an eduTEAMS CUID stands for; Waldur pulls it from eduTEAMS, whose users here are
    the simulator's own (their username is the CUID)."""
    cuid = req.data().get("cuid")
    if not isinstance(cuid, str) or not cuid:
        raise invalid("cuid", "This field is required.")
    user = req.state.first("users", username=cuid)
    if user is None:
        raise ApiError(404, {"detail": f"User with CUID {cuid} is not found in eduTEAMS."})
    return ok(render.complete("RemoteEduteamsUUID", {"uuid": user["uuid"]}))


def me(req: Request) -> Response:
    return one_body(req, render.me(req, req.me))


def version(req: Request) -> Response:
    return ok(render.complete("Version", {"version": VERSION, "latest_version": VERSION}))


def register(router: Router) -> None:
    base = "/api/marketplace-provider-offerings/"
    router.add("GET", base, list_offerings)
    router.add("GET", base + "{uuid}/", retrieve_offering)
    router.add("GET", "/api/marketplace-public-offerings/", list_public_offerings)
    router.add("GET", "/api/marketplace-public-offerings/{uuid}/", retrieve_public_offering)
    router.add("POST", base + "{uuid}/create_offering_component/", create_component)
    router.add("POST", base + "{uuid}/update_offering_component/", update_component)
    router.add("POST", base + "{uuid}/check_unique_backend_id/", check_unique_backend_id)
    router.add("GET", base + "{uuid}/user-attribute-config/", user_attribute_config)
    router.add("GET", base + "{uuid}/list_course_accounts/", list_course_accounts)
    router.add("GET", base + "{uuid}/list_project_service_accounts/", list_service_accounts)
    for plans in ("marketplace-plans", "marketplace-public-plans"):
        router.add("GET", f"/api/{plans}/", list_plans)
        router.add("GET", f"/api/{plans}/{{uuid}}/", retrieve_plan)
    base = "/api/marketplace-service-providers/"
    router.add("GET", base, list_providers)
    router.add("GET", base + "{uuid}/", retrieve_provider)
    router.add("GET", base + "{uuid}/keys/", provider_keys)
    router.add("GET", base + "{uuid}/projects/", provider_projects)
    router.add("GET", "/api/users/", list_users)
    router.add("GET", "/api/users/me/", me)
    router.add("POST", "/api/remote-eduteams/", remote_eduteams)
    router.add("GET", "/api/users/{uuid}/", retrieve_user)
    router.add("GET", "/api/version/", version, public=True)
