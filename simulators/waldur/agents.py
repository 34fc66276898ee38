"""The agent registry (identities, services, processors), event subscriptions and queues, and the
smaller agent endpoints: logs, periodic-limit command results, importable backend resources."""

from __future__ import annotations

from simulators.waldur import access
from simulators.waldur.errors import ApiError, detail, invalid
from simulators.waldur.events import EventRouter
from simulators.waldur.http import Request, Response, Router, created, ok
from simulators.waldur.listing import one as one_body
from simulators.waldur.listing import paginate, uuids
from simulators.waldur.state import Obj, State, parse_uuid

OBJECT_TYPES = (
    "order",
    "user_role",
    "resource",
    "offering_user",
    "importable_resources",
    "service_account",
    "course_account",
    "resource_periodic_limits",
    "resource_api_key_rotation",
    "offering_resources_sync",
    "resource_end_date_change_request",
    "user_lifecycle",
    "user_profile",
    "user_ssh_key",
    "call",
    "proposal",
)
MAX_LOGS = 1000


def _router(req: Request) -> EventRouter | None:
    events = req.state.events
    return events if isinstance(events, EventRouter) else None


def _broker(req: Request, method: str, *args: str) -> None:
    router = _router(req)
    if router is None:
        return
    try:
        router.call_broker(method, *args)
    except Exception as exc:
        raise detail(503, f"Message broker is unavailable: {exc}") from exc


# renderers


def processor_body(req: Request, p: Obj, nested: bool = False) -> Obj:
    body = {
        "uuid": p["uuid"],
        "url": req.url("marketplace-site-agent-processors", p["uuid"]),
        "name": p["name"],
        "backend_type": p["backend_type"],
        "backend_version": p.get("backend_version"),
        "last_run": p.get("last_run"),
        "created": p["created"],
        "modified": p["modified"],
    }
    if not nested:
        service = req.state.get("services", p["service"]) or {}
        body.update(service=p["service"], service_name=service.get("name"))
    return body


def service_body(req: Request, s: Obj, nested: bool = False) -> Obj:
    body = {
        "uuid": s["uuid"],
        "url": req.url("marketplace-site-agent-services", s["uuid"]),
        "name": s["name"],
        "mode": s.get("mode"),
        "state": s["state"],
        "statistics": {},
        "created": s["created"],
        "modified": s["modified"],
    }
    if not nested:
        identity = req.state.get("identities", s["identity"]) or {}
        processors = req.state.find("processors", service=s["uuid"])
        body.update(
            identity=s["identity"],
            identity_name=identity.get("name"),
            processors=[processor_body(req, p, True) for p in processors],
        )
    return body


def identity_body(req: Request, i: Obj) -> Obj:
    services = req.state.find("services", identity=i["uuid"])
    return {
        "uuid": i["uuid"],
        "url": req.url("marketplace-site-agent-identities", i["uuid"]),
        "offering": i["offering"],
        "created_by": i.get("created_by"),
        "name": i["name"],
        "version": i.get("version"),
        "dependencies": i.get("dependencies", []),
        "config_file_path": i.get("config_file_path", ""),
        "config_file_content": i.get("config_file_content", ""),
        **({"last_restarted": i["last_restarted"]} if i.get("last_restarted") else {}),
        "created": i["created"],
        "modified": i["modified"],
        "services": [service_body(req, s, True) for s in services],
        "compatibility": {"status": "compatible", "message": "Agent version is compatible."},
    }


def subscription_body(req: Request, s: Obj) -> Obj:
    user = req.state.get("users", s["user"]) or {}
    return {
        "uuid": s["uuid"],
        "url": req.url("event-subscriptions", s["uuid"]),
        "user": req.url("users", s["user"]),
        "user_uuid": s["user"],
        "user_username": user.get("username"),
        "user_full_name": user.get("full_name"),
        "description": s.get("description", ""),
        "observable_objects": s["observable_objects"],
        "source_ip": s.get("source_ip"),
        "created": s["created"],
        "modified": s["modified"],
    }


def queue_body(req: Request, q: Obj) -> Obj:
    return {
        "uuid": q["uuid"],
        "url": req.url("event-subscription-queues", q["uuid"]),
        "event_subscription": req.url("event-subscriptions", q["subscription"]),
        "event_subscription_uuid": q["subscription"],
        "offering_uuid": q["offering"],
        "object_type": q["object_type"],
        "queue_name": q["queue_name"],
        "vhost": q["vhost"],
        "created": q["created"],
    }


# identities


def _visible_identity(state: State, user: Obj, i: Obj) -> bool:
    offering = state.get("offerings", i["offering"]) or {}
    return access.manages_offering(state, user, offering)


def list_identities(req: Request) -> Response:
    offerings = uuids(req, "offering_uuid")
    name = req.param("name")
    found = [
        i
        for i in req.state.all("identities")
        if (offerings is None or i["offering"] in offerings)
        and (name is None or i["name"] == name)
        and _visible_identity(req.state, req.me, i)
    ]
    return paginate(req, found, lambda i: identity_body(req, i))


def _identity_fields(req: Request) -> Obj:
    data = req.data()
    offering = req.state.get("offerings", parse_uuid(data.get("offering")))
    if offering is None:
        raise invalid("offering", "Object with uuid does not exist.")
    access.require(access.manages_offering(req.state, req.me, offering))
    if not data.get("name"):
        raise invalid("name", "This field is required.")
    keys = ("version", "dependencies", "config_file_path", "config_file_content", "last_restarted")
    return {
        "offering": offering["uuid"],
        "name": str(data["name"]),
        **{k: data[k] for k in keys if k in data},
    }


def create_identity(req: Request) -> Response:
    fields = _identity_fields(req)
    identity = req.state.put("identities", {**fields, "created_by": req.me["uuid"]})
    return created(identity_body(req, identity))


def _identity(req: Request) -> Obj:
    return access.lookup(req, "identities", req.args[0], "AgentIdentity", _visible_identity)


def retrieve_identity(req: Request) -> Response:
    return one_body(req, identity_body(req, _identity(req)))


def update_identity(req: Request) -> Response:
    identity = _identity(req)
    identity.update(_identity_fields(req))
    req.state.put("identities", identity)
    return ok(identity_body(req, identity))


def delete_identity(req: Request) -> Response:
    identity = _identity(req)
    req.state.remove("identities", identity["uuid"])
    return Response(204)


def register_service(req: Request) -> Response:
    identity = _identity(req)
    data = req.data()
    if not data.get("name"):
        raise invalid("name", "This field is required.")
    service = req.state.first("services", identity=identity["uuid"], name=data["name"])
    status = 200 if service else 201
    service = service or {"identity": identity["uuid"], "name": str(data["name"])}
    service.update(state="Active", mode=data.get("mode", service.get("mode")))
    req.state.put("services", service)
    return Response(status, service_body(req, service))


def _visible_service(state: State, user: Obj, s: Obj) -> bool:
    identity = state.get("identities", s["identity"])
    return identity is not None and _visible_identity(state, user, identity)


def list_services(req: Request) -> Response:
    found = [s for s in req.state.all("services") if _visible_service(req.state, req.me, s)]
    return paginate(req, found, lambda s: service_body(req, s))


def register_processor(req: Request) -> Response:
    service = access.lookup(req, "services", req.args[0], "AgentService", _visible_service)
    data = req.data()
    for key in ("name", "backend_type"):
        if not data.get(key):
            raise invalid(key, "This field is required.")
    processor = req.state.first("processors", service=service["uuid"], name=data["name"])
    status = 200 if processor else 201
    processor = processor or {"service": service["uuid"], "name": str(data["name"])}
    processor.update(
        backend_type=str(data["backend_type"]),
        last_run=req.state.timestamp(),
        backend_version=data.get("backend_version"),
    )
    req.state.put("processors", processor)
    return Response(status, processor_body(req, processor))


def list_processors(req: Request) -> Response:
    found = [
        p
        for p in req.state.all("processors")
        if _visible_service(req.state, req.me, req.state.get("services", p["service"]) or {})
    ]
    return paginate(req, found, lambda p: processor_body(req, p))


# event subscriptions and queues


def _object_type(data: Obj, field: str) -> str:
    value = data.get(field)
    if value not in OBJECT_TYPES:
        raise invalid(field, f'"{value}" is not a valid choice.')
    return str(value)


def register_event_subscription(req: Request) -> Response:
    _identity(req)
    data = req.data()
    object_type = _object_type(data, "observable_object_type")
    observable = [{"object_type": object_type}]
    found = req.state.first("subscriptions", user=req.me["uuid"], observable_objects=observable)
    status = 200 if found else 201
    subscription = found or req.state.put(
        "subscriptions",
        {
            "user": req.me["uuid"],
            "observable_objects": observable,
            "description": str(data.get("description") or ""),
            "source_ip": "127.0.0.1",
        },
    )
    _broker(req, "ensure_subscription", req.me["uuid"], subscription["uuid"], req.me["token"])
    return Response(status, subscription_body(req, subscription))


def _subscription(req: Request) -> Obj:
    return access.lookup(
        req,
        "subscriptions",
        req.args[0],
        "EventSubscription",
        lambda s, u, sub: u["is_staff"] or sub["user"] == u["uuid"],
    )


def list_subscriptions(req: Request) -> Response:
    found = [
        s
        for s in req.state.all("subscriptions")
        if req.me["is_staff"] or s["user"] == req.me["uuid"]
    ]
    return paginate(req, found, lambda s: subscription_body(req, s))


def retrieve_subscription(req: Request) -> Response:
    return one_body(req, subscription_body(req, _subscription(req)))


def delete_subscription(req: Request) -> Response:
    subscription = _subscription(req)
    for queue in req.state.find("queues", subscription=subscription["uuid"]):
        req.state.remove("queues", queue["uuid"])
    req.state.remove("subscriptions", subscription["uuid"])
    _broker(req, "delete_user", subscription["uuid"])
    return Response(204)


def create_queue(req: Request) -> Response:
    subscription = _subscription(req)
    data = req.data()
    object_type = _object_type(data, "object_type")
    offering_uuid = parse_uuid(data.get("offering_uuid"))
    offering = req.state.get("offerings", offering_uuid)
    if offering is None:
        raise invalid(
            "offering_uuid", f"Offering with UUID {data.get('offering_uuid')} does not exist."
        )
    if not access.manages_offering(req.state, req.me, offering):
        raise invalid("offering_uuid", "You do not have access to this offering.")
    vhost = subscription["user"]
    name = f"subscription_{subscription['uuid']}_offering_{offering['uuid']}_{object_type}"
    found = req.state.first("queues", queue_name=name)
    status = 200 if found else 201
    queue = found or req.state.put(
        "queues",
        {
            "subscription": subscription["uuid"],
            "offering": offering["uuid"],
            "object_type": object_type,
            "queue_name": name,
            "vhost": vhost,
        },
    )
    _broker(req, "ensure_queue", vhost, name)
    return Response(status, queue_body(req, queue))


def list_queues(req: Request) -> Response:
    subscriptions = uuids(req, "event_subscription_uuid")
    found = [
        q
        for q in req.state.all("queues")
        if (subscriptions is None or q["subscription"] in subscriptions)
        and (
            req.me["is_staff"]
            or (req.state.get("subscriptions", q["subscription"]) or {}).get("user")
            == req.me["uuid"]
        )
    ]
    return paginate(req, found, lambda q: queue_body(req, q))


def register_queue(req: Request) -> Response:
    identity = _identity(req)
    data = req.data()
    types = data.get("object_types") or []
    if not isinstance(types, list):
        raise invalid("object_types", 'Expected a list of items but got type "str".')
    for value in types:
        _object_type({"object_types": value}, "object_types")
    queue = req.state.get("agent_queues", identity["uuid"]) or {
        "uuid": identity["uuid"],
        "identity": identity["uuid"],
        "offering": identity["offering"],
        "queue_name": f"consumer_{identity['uuid']}",
        "vhost": req.me["uuid"],
        "rmq_username": f"agent_{identity['uuid']}",
    }
    queue["object_types"] = sorted(set(types))
    req.state.put("agent_queues", queue)
    _broker(req, "ensure_subscription", queue["vhost"], queue["rmq_username"], req.me["token"])
    _broker(req, "ensure_queue", queue["vhost"], queue["queue_name"])
    return ok(
        {
            "rmq_username": queue["rmq_username"],
            "queue_name": queue["queue_name"],
            "vhost": queue["vhost"],
            "observable_object_types": queue["object_types"] or list(OBJECT_TYPES),
        }
    )


# logs, periodic limits, importable resources, API keys


def ship_logs(req: Request) -> Response:
    entries = req.json()
    if not isinstance(entries, list):
        raise ApiError(400, ["Expected a list of log entries."])
    table = req.state.tables["agent_logs"]
    for entry in entries:
        req.state.put("agent_logs", {"entry": entry})
    for uuid in list(table)[: max(0, len(table) - MAX_LOGS)]:
        req.state.remove("agent_logs", uuid)
    return created()


def report_command_result(req: Request) -> Response:
    policy = req.args[0]
    data = req.data()
    if parse_uuid(data.get("resource_uuid")) is None:
        raise invalid("resource_uuid", "Must be a valid UUID.")
    if not isinstance(data.get("success"), bool):
        raise invalid("success", "This field is required.")
    req.state.put("command_results", {"policy": parse_uuid(policy) or policy, **data})
    return ok()


def backend_request_body(req: Request, b: Obj) -> Obj:
    offering = req.state.get("offerings", b["offering"]) or {}
    return {
        "url": req.url("backend-resource-requests", b["uuid"]),
        "uuid": b["uuid"],
        "created": b["created"],
        "modified": b["modified"],
        "started": b.get("started"),
        "finished": b.get("finished"),
        "state": b["state"],
        "offering": b["offering"],
        "offering_name": offering.get("name"),
        "offering_url": req.url("marketplace-provider-offerings", b["offering"]),
        "error_message": b.get("error_message", ""),
        "error_traceback": b.get("error_traceback", ""),
    }


def create_backend_request(req: Request) -> Response:
    data = req.data()
    offering = req.state.get("offerings", parse_uuid(data.get("offering")))
    if offering is None:
        raise invalid("offering", "Object with uuid does not exist.")
    access.require(access.manages_offering(req.state, req.me, offering))
    b = req.state.put("backend_requests", {"offering": offering["uuid"], "state": "Sent"})
    req.state.emit(
        "importable_resources", offering["uuid"], {"backend_resource_request_uuid": b["uuid"]}
    )
    return created(backend_request_body(req, b))


def _backend_request(req: Request) -> Obj:
    return access.lookup(
        req,
        "backend_requests",
        req.args[0],
        "BackendResourceRequest",
        lambda s, u, b: access.manages_offering(s, u, s.get("offerings", b["offering"]) or {}),
    )


def retrieve_backend_request(req: Request) -> Response:
    return one_body(req, backend_request_body(req, _backend_request(req)))


def backend_request_action(valid: tuple[str, ...], target: str, stamp: str):
    def handler(req: Request) -> Response:
        b = _backend_request(req)
        if b["state"] not in valid:
            raise detail(409, f"Valid states for operation: {', '.join(valid)}.")
        b["state"], b[stamp] = target, req.state.timestamp()
        if target == "Erred":
            data = req.data()
            b["error_message"] = str(data.get("error_message") or "")
            b["error_traceback"] = str(data.get("error_traceback") or "")
        req.state.put("backend_requests", b)
        return ok({"status": f"Backend resource request is {target.lower()}."})

    return handler


def backend_resource_body(req: Request, b: Obj) -> Obj:
    offering = req.state.get("offerings", b["offering"]) or {}
    project = req.state.get("projects", b["project"]) or {}
    return {
        "url": req.url("backend-resources", b["uuid"]),
        "uuid": b["uuid"],
        "name": b["name"],
        "created": b["created"],
        "modified": b["modified"],
        "backend_id": b.get("backend_id", ""),
        "backend_metadata": b.get("backend_metadata", {}),
        "project": b["project"],
        "project_name": project.get("name"),
        "project_url": req.url("projects", b["project"]),
        "offering": b["offering"],
        "offering_name": offering.get("name"),
        "offering_url": req.url("marketplace-provider-offerings", b["offering"]),
    }


def list_backend_resources(req: Request) -> Response:
    offerings, projects = uuids(req, "offering_uuid"), uuids(req, "project_uuid")
    backend_id = req.param("backend_id")
    found = [
        b
        for b in req.state.all("backend_resources")
        if (offerings is None or b["offering"] in offerings)
        and (projects is None or b["project"] in projects)
        and (backend_id is None or b.get("backend_id") == backend_id)
        and access.manages_offering(
            req.state, req.me, req.state.get("offerings", b["offering"]) or {}
        )
    ]
    return paginate(req, found, lambda b: backend_resource_body(req, b))


def create_backend_resource(req: Request) -> Response:
    data = req.data()
    offering = req.state.get("offerings", parse_uuid(data.get("offering")))
    project = req.state.get("projects", parse_uuid(data.get("project")))
    if offering is None:
        raise invalid("offering", "Object with uuid does not exist.")
    if project is None:
        raise invalid("project", "Object with uuid does not exist.")
    access.require(access.manages_offering(req.state, req.me, offering))
    if not data.get("name"):
        raise invalid("name", "This field is required.")
    b = req.state.put(
        "backend_resources",
        {
            "name": str(data["name"]),
            "offering": offering["uuid"],
            "project": project["uuid"],
            "backend_id": str(data.get("backend_id") or ""),
            "backend_metadata": data.get("backend_metadata") or {},
        },
    )
    return created(backend_resource_body(req, b))


def register(router: Router) -> None:
    base = "/api/marketplace-site-agent-identities/"
    router.add("GET", base, list_identities)
    router.add("POST", base, create_identity)
    router.add("GET", base + "{uuid}/", retrieve_identity)
    router.add("PUT", base + "{uuid}/", update_identity)
    router.add("DELETE", base + "{uuid}/", delete_identity)
    router.add("POST", base + "{uuid}/register_service/", register_service)
    router.add("POST", base + "{uuid}/register_event_subscription/", register_event_subscription)
    router.add("POST", base + "{uuid}/register_queue/", register_queue)
    router.add("GET", "/api/marketplace-site-agent-services/", list_services)
    router.add(
        "POST",
        "/api/marketplace-site-agent-services/{uuid}/register_processor/",
        register_processor,
    )
    router.add("GET", "/api/marketplace-site-agent-processors/", list_processors)
    router.add("POST", "/api/marketplace-site-agent-logs/", ship_logs)
    router.add("GET", "/api/event-subscriptions/", list_subscriptions)
    router.add("GET", "/api/event-subscriptions/{uuid}/", retrieve_subscription)
    router.add("DELETE", "/api/event-subscriptions/{uuid}/", delete_subscription)
    router.add("POST", "/api/event-subscriptions/{uuid}/create_queue/", create_queue)
    router.add("GET", "/api/event-subscription-queues/", list_queues)
    router.add(
        "POST",
        "/api/marketplace-slurm-periodic-usage-policies/{uuid}/report-command-result/",
        report_command_result,
    )
    base = "/api/backend-resource-requests/"
    router.add("POST", base, create_backend_request)
    router.add("GET", base + "{uuid}/", retrieve_backend_request)
    router.add(
        "POST",
        base + "{uuid}/start_processing/",
        backend_request_action(("Sent",), "Processing", "started"),
    )
    router.add(
        "POST",
        base + "{uuid}/set_done/",
        backend_request_action(("Processing",), "Done", "finished"),
    )
    router.add(
        "POST",
        base + "{uuid}/set_erred/",
        backend_request_action(("Sent", "Processing"), "Erred", "finished"),
    )
    router.add("GET", "/api/backend-resources/", list_backend_resources)
    router.add("POST", "/api/backend-resources/", create_backend_resource)
