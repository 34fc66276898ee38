"""What a consumer or staff user calls: customers, projects and their team, users, SSH keys,
project service accounts and course accounts."""

from __future__ import annotations

import hashlib

from waldur_site_agent_actors.simulators.waldur import access, render
from waldur_site_agent_actors.simulators.waldur.errors import ApiError, invalid
from waldur_site_agent_actors.simulators.waldur.http import Request, Response, Router, created, ok
from waldur_site_agent_actors.simulators.waldur.listing import one as one_body
from waldur_site_agent_actors.simulators.waldur.listing import paginate, uuids
from waldur_site_agent_actors.simulators.waldur.offering_users import ensure_offering_users
from waldur_site_agent_actors.simulators.waldur.resources import (
    emit_resource,
    parse_date,
    set_end_date,
)
from waldur_site_agent_actors.simulators.waldur.slugs import unique_slug
from waldur_site_agent_actors.simulators.waldur.state import Obj, State

CUSTOMER_ROLES = ("CUSTOMER.OWNER", "CUSTOMER.MANAGER", "CUSTOMER.SUPPORT")


def live_offerings(state: State, project_uuid: str) -> list[Obj]:
    """Offerings with a non-terminated resource in the project: they hear of its changes."""
    seen: dict[str, Obj] = {}
    for r in state.find("resources", project=project_uuid):
        if r["state"] != "Terminated":
            seen.setdefault(r["offering"], state.get("offerings", r["offering"]) or {})
    return [o for o in seen.values() if o]


def new_user(state: State, username: str, fields: Obj | None = None) -> Obj:
    fields = fields or {}
    full_name = str(fields.get("full_name") or username.replace(".", " ").title())
    first, _, last = full_name.partition(" ")
    return state.put(
        "users",
        {
            "username": username,
            "full_name": full_name,
            "first_name": first,
            "last_name": last,
            "email": str(fields.get("email") or f"{username}@example.org"),
            "is_staff": bool(fields.get("is_staff", False)),
            "is_active": True,
            "token": str(fields.get("token") or state.new_token()),
            "organization": str(fields.get("organization") or ""),
            # identity service domains whose users this one may push (the Identity Bridge)
            "managed_isds": list(fields.get("managed_isds") or []),
            **{k: fields[k] for k in render.PROFILE_FIELDS if k in fields},
        },
    )


def new_customer(state: State, name: str, owners: list[str] | None = None) -> Obj:
    return state.put(
        "customers",
        {
            "name": name,
            "slug": unique_slug(state, "customers", name),
            "abbreviation": name[:8],
            "owners": owners or [],
        },
    )


def new_project(state: State, customer_uuid: str, name: str, fields: Obj | None = None) -> Obj:
    fields = fields or {}
    return state.put(
        "projects",
        {
            "name": name,
            "slug": unique_slug(state, "projects", name),
            "customer": customer_uuid,
            "description": str(fields.get("description") or ""),
            "end_date": fields.get("end_date"),
            "start_date": fields.get("start_date"),
            "backend_id": str(fields.get("backend_id") or ""),
        },
    )


def grant_role(state: State, project: Obj, user: Obj, role: str, expires: object = None) -> Obj:
    existing = state.first("roles", project=project["uuid"], user=user["uuid"], role=role)
    if existing:
        return existing
    obj = state.put(
        "roles",
        {
            "project": project["uuid"],
            "user": user["uuid"],
            "role": role,
            "expiration_time": expires,
        },
    )
    for offering in live_offerings(state, project["uuid"]):
        _emit_role(state, offering, project, user, role, granted=True)
        ensure_offering_users(state, offering, project["uuid"])
    return obj


def revoke_role(state: State, project: Obj, user: Obj, role: str | None) -> bool:
    found = [
        r
        for r in state.find("roles", project=project["uuid"], user=user["uuid"])
        if role is None or r["role"] == role
    ]
    for obj in found:
        state.remove("roles", obj["uuid"])
        for offering in live_offerings(state, project["uuid"]):
            _emit_role(state, offering, project, user, obj["role"], granted=False)
    return bool(found)


def _emit_role(
    state: State, offering: Obj, project: Obj, user: Obj, role: str, *, granted: bool
) -> None:
    state.emit(
        "user_role",
        offering["uuid"],
        {
            "user_uuid": user["uuid"],
            "user_username": user["username"],
            "project_uuid": project["uuid"],
            "project_name": project["name"],
            "role_name": role,
            "granted": granted,
        },
    )


# HTTP: customers and projects


def list_customers(req: Request) -> Response:
    found = [
        c
        for c in req.state.all("customers")
        if req.me["is_staff"] or req.me["uuid"] in c.get("owners", [])
    ]
    return paginate(req, found, lambda c: render.customer(req, c))


def create_customer(req: Request) -> Response:
    access.require_staff(req)
    data = req.data()
    if not data.get("name"):
        raise invalid("name", "This field is required.")
    return created(render.customer(req, new_customer(req.state, str(data["name"]))))


def _customer(req: Request) -> Obj:
    return access.lookup(
        req,
        "customers",
        req.args[0],
        "Customer",
        lambda s, u, c: u["is_staff"] or u["uuid"] in c.get("owners", []),
    )


def retrieve_customer(req: Request) -> Response:
    return one_body(req, render.customer(req, _customer(req)))


def customer_add_user(req: Request) -> Response:
    c = _customer(req)
    access.require_staff(req)
    data = req.data()
    user = access.hyperlink(req, data, "user", ("users",), "users")
    if data.get("role") not in CUSTOMER_ROLES:
        raise invalid("role", "Role is not valid.")
    if data["role"] == "CUSTOMER.OWNER" and user["uuid"] not in c["owners"]:
        c["owners"].append(user["uuid"])
        req.state.put("customers", c)
    return created(render.complete("UserRoleExpirationTime", {"expiration_time": None}))


def _visible_project(state: State, user: Obj, p: Obj) -> bool:
    return access.sees_project(state, user, p)


def list_projects(req: Request) -> Response:
    customers = uuids(req, "customer_uuid")
    slug, name = req.param("slug"), req.param("name")
    backend_id = req.param("backend_id")
    found = [
        p
        for p in req.state.all("projects")
        if (customers is None or p["customer"] in customers)
        and (slug is None or p["slug"] == slug)
        and (backend_id is None or p.get("backend_id", "") == backend_id)
        and (name is None or name.lower() in p["name"].lower())
        and _visible_project(req.state, req.me, p)
    ]
    return paginate(req, found, lambda p: render.project(req, p))


def create_project(req: Request) -> Response:
    data = req.data()
    c = access.hyperlink(req, data, "customer", ("customers",), "customers")
    access.require(req.me["is_staff"] or req.me["uuid"] in c.get("owners", []))
    if not data.get("name"):
        raise invalid("name", "This field is required.")
    p = new_project(req.state, c["uuid"], str(data["name"]), data)
    return created(render.project(req, p))


def _project(req: Request) -> Obj:
    return access.lookup(req, "projects", req.args[0], "Project", _visible_project)


def update_project(req: Request) -> Response:
    """PATCH by staff or an owner of the project's customer: name, description, end date."""
    p = _project(req)
    access.require(req.me["is_staff"] or access.owns_customer(req.state, req.me, p["customer"]))
    data = req.data()
    for key in ("name", "description"):
        if key in data:
            if not isinstance(data[key], str) or (key == "name" and not data[key]):
                raise invalid(key, "This field may not be blank.")
            p[key] = data[key]
    if "end_date" in data:
        set_end_date(req.state, p, req.me, parse_date(data["end_date"]))
    req.state.put("projects", p)
    return ok(render.project(req, p))


def _managed_project(req: Request) -> Obj:
    p = _project(req)
    access.require(
        req.me["is_staff"]
        or access.owns_customer(req.state, req.me, p["customer"])
        or access.project_role(req.state, req.me, p["uuid"]) == "PROJECT.MANAGER"
    )
    return p


def retrieve_project(req: Request) -> Response:
    return one_body(req, render.project(req, _project(req)))


def add_user(req: Request) -> Response:
    p = _managed_project(req)
    data = req.data()
    user = access.hyperlink(req, data, "user", ("users",), "users")
    role = access.role_name(data.get("role"))
    if role not in access.PROJECT_ROLES:
        raise invalid("role", "Role is not valid.")
    grant_role(req.state, p, user, role, data.get("expiration_time"))
    expires = data.get("expiration_time")
    return created(render.complete("UserRoleExpirationTime", {"expiration_time": expires}))


def delete_user(req: Request) -> Response:
    p = _managed_project(req)
    data = req.data()
    user = access.hyperlink(req, data, "user", ("users",), "users")
    if not revoke_role(req.state, p, user, access.role_name(data.get("role"))):
        raise ApiError(400, ["The user does not have this role in the project."])
    return ok()


def move_project(req: Request) -> Response:
    """Staff move a project to another customer; its live resources are announced again."""
    p = _project(req)
    access.require_staff(req)
    c = access.hyperlink(req, req.data(), "customer", ("customers",), "customers")
    if c["uuid"] != p["customer"]:
        p["customer"] = c["uuid"]
        req.state.put("projects", p)
        for r in req.state.find("resources", project=p["uuid"]):
            if r["state"] != "Terminated":
                emit_resource(req.state, r)
    return ok(render.project(req, p))


def list_roles(req: Request) -> Response:
    """The project roles, looked up by name as clients do (`?name=PROJECT.ADMIN`)."""
    wanted = req.param("name")
    found = [
        {"uuid": uuid, "name": name, "users_count": len(req.state.find("roles", role=name))}
        for name, uuid in access.ROLE_UUIDS.items()
        if wanted in (None, name)
    ]
    return paginate(req, found, lambda r: render.role(r))


def list_project_users(req: Request) -> Response:
    p = _project(req)
    roles = req.state.find("roles", project=p["uuid"])

    def body(role: Obj) -> Obj:
        u = req.state.get("users", role["user"]) or {}
        return render.complete(
            "UserRoleDetails",
            {
                "uuid": role["uuid"],
                "created": role["created"],
                "expiration_time": role.get("expiration_time"),
                "role_name": role["role"],
                "role_uuid": render.role_uuid(role["role"]),
                "user_uuid": u.get("uuid"),
                "user_username": u.get("username"),
                "user_full_name": u.get("full_name"),
                "user_email": u.get("email"),
            },
        )

    return paginate(req, roles, body)


# HTTP: users and keys


def create_user(req: Request) -> Response:
    access.require_staff(req)
    data = req.data()
    username = data.get("username")
    if not isinstance(username, str) or not username:
        raise invalid("username", "This field is required.")
    if req.state.first("users", username=username):
        raise invalid("username", "User with this username already exists.")
    user = new_user(req.state, username, data)
    return created({**render.user(req, user), "token": user["token"]})  # shown to staff


def list_keys(req: Request) -> Response:
    users = uuids(req, "user_uuid")
    found = [
        k
        for k in req.state.all("ssh_keys")
        if (users is None or k["user"] in users)
        and (req.me["is_staff"] or k["user"] == req.me["uuid"])
    ]
    return paginate(req, found, lambda k: render.ssh_key(req, k))


def add_key(state: State, user: Obj, name: str, public_key: str) -> Obj:
    digest = hashlib.md5(public_key.encode()).hexdigest()  # noqa: S324 - a fingerprint
    fingerprint = ":".join(digest[i : i + 2] for i in range(0, 32, 2))
    return state.put(
        "ssh_keys",
        {
            "user": user["uuid"],
            "name": name,
            "public_key": public_key,
            "fingerprint_md5": fingerprint,
        },
    )


def create_key(req: Request) -> Response:
    data = req.data()
    public_key = data.get("public_key")
    if not isinstance(public_key, str) or " " not in public_key.strip():
        raise invalid("public_key", "Key is not valid.")
    key = add_key(req.state, req.me, str(data.get("name") or "key"), public_key.strip())
    return created(render.ssh_key(req, key))


# HTTP: project service accounts and course accounts


def emit_account(state: State, kind: str, account: Obj, action: str) -> None:
    project = state.get("projects", account["project"]) or {}
    for offering in live_offerings(state, account["project"]):
        state.emit(
            kind,
            offering["uuid"],
            {
                "account_uuid": account["uuid"],
                "account_username": account.get("username") or "",
                "scope_type": "project",
                "project_uuid": account["project"],
                "project_name": project.get("name"),
                "action": action,
            },
        )


def account_views(kind: str, object_type: str, collection: str):
    renderer = render.service_account if kind == "service_accounts" else render.course_account

    def list_view(req: Request) -> Response:
        projects = uuids(req, "project_uuid")
        found = [
            a
            for a in req.state.all(kind)
            if (projects is None or a["project"] in projects)
            and _visible_project(
                req.state, req.me, req.state.get("projects", a["project"]) or {"uuid": ""}
            )
        ]
        return paginate(req, found, lambda a: renderer(req, a))

    def create_view(req: Request) -> Response:
        data = req.data()
        p = access.hyperlink(req, data, "project", ("projects",), "projects")
        access.require(req.me["is_staff"] or access.owns_customer(req.state, req.me, p["customer"]))
        count = len(req.state.find(kind, project=p["uuid"])) + 1
        prefix = "svc" if kind == "service_accounts" else "course"
        username = str(data.get("username") or f"{prefix}-{p['slug']}-{count}")
        account = {
            "project": p["uuid"],
            "username": username,
            "state": "OK",
            "email": str(data.get("email") or ""),
            "description": "",
        }
        if data.get("user"):
            account["user"] = access.hyperlink(req, data, "user", ("users",), "users")["uuid"]
        req.state.put(kind, account)
        emit_account(req.state, object_type, account, "create")
        return created(renderer(req, account))

    def close_view(req: Request) -> Response:
        account = access.lookup(req, kind, req.args[0], "Account")
        p = req.state.get("projects", account["project"]) or {}
        access.require(
            req.me["is_staff"] or access.owns_customer(req.state, req.me, p.get("customer"))
        )
        if account["state"] != "Closed":
            account["state"] = "Closed"
            req.state.put(kind, account)
            emit_account(req.state, object_type, account, "delete")
        if kind == "course_accounts":  # as the schema has it: the closed account, accepted
            return Response(202, renderer(req, account))
        return Response(204)

    return list_view, create_view, close_view


def register(router: Router) -> None:
    router.add("GET", "/api/customers/", list_customers)
    router.add("POST", "/api/customers/", create_customer)
    router.add("GET", "/api/customers/{uuid}/", retrieve_customer)
    router.add("POST", "/api/customers/{uuid}/add_user/", customer_add_user)
    router.add("GET", "/api/projects/", list_projects)
    router.add("POST", "/api/projects/", create_project)
    router.add("GET", "/api/projects/{uuid}/", retrieve_project)
    router.add("PATCH", "/api/projects/{uuid}/", update_project)
    router.add("POST", "/api/projects/{uuid}/add_user/", add_user)
    router.add("POST", "/api/projects/{uuid}/delete_user/", delete_user)
    router.add("GET", "/api/projects/{uuid}/list_users/", list_project_users)
    router.add("POST", "/api/projects/{uuid}/move_project/", move_project)
    router.add("POST", "/api/users/", create_user)
    router.add("GET", "/api/roles/", list_roles)
    router.add("GET", "/api/keys/", list_keys)
    router.add("POST", "/api/keys/", create_key)
    for kind, object_type, collection in (
        ("service_accounts", "service_account", "marketplace-project-service-accounts"),
        ("course_accounts", "course_account", "marketplace-course-accounts"),
    ):
        list_view, create_view, close_view = account_views(kind, object_type, collection)
        router.add("GET", f"/api/{collection}/", list_view)
        router.add("POST", f"/api/{collection}/", create_view)
        router.add("DELETE", f"/api/{collection}/{{uuid}}/", close_view)
