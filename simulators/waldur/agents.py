"""The agent registry: identities, their services and processors; log shipping and the
periodic-limits command results the agent reports."""

from __future__ import annotations

from waldur_site_agent_actors.simulators.waldur import access
from waldur_site_agent_actors.simulators.waldur.errors import ApiError, invalid
from waldur_site_agent_actors.simulators.waldur.http import Request, Response, Router, created, ok
from waldur_site_agent_actors.simulators.waldur.listing import one as one_body
from waldur_site_agent_actors.simulators.waldur.listing import paginate, uuids
from waldur_site_agent_actors.simulators.waldur.render import complete
from waldur_site_agent_actors.simulators.waldur.state import Obj, State, parse_uuid

MAX_LOGS = 1000


def processor_body(req: Request, p: Obj, nested: bool = False) -> Obj:
    """`AgentProcessor`, or `NestedAgentProcessor` inside its service."""
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
    if nested:
        return complete("NestedAgentProcessor", body)
    service = req.state.get("services", p["service"]) or {}
    return complete(
        "AgentProcessor", {**body, "service": p["service"], "service_name": service.get("name")}
    )


def service_body(req: Request, s: Obj, nested: bool = False) -> Obj:
    """`AgentService`, or `NestedAgentService` inside its identity."""
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
    if nested:
        return complete("NestedAgentService", body)
    identity = req.state.get("identities", s["identity"]) or {}
    processors = req.state.find("processors", service=s["uuid"])
    return complete(
        "AgentService",
        {
            **body,
            "identity": s["identity"],
            "identity_name": identity.get("name"),
            "processors": [processor_body(req, p, True) for p in processors],
        },
    )


def identity_body(req: Request, i: Obj) -> Obj:
    services = req.state.find("services", identity=i["uuid"])
    return complete(
        "AgentIdentity",
        {
            "uuid": i["uuid"],
            "url": req.url("marketplace-site-agent-identities", i["uuid"]),
            "offering": i["offering"],
            "created_by": i.get("created_by"),
            "name": i["name"],
            "version": i.get("version"),
            "dependencies": i.get("dependencies", []),
            "config_file_path": i.get("config_file_path", ""),
            "config_file_content": i.get("config_file_content", ""),
            "last_restarted": i.get("last_restarted") or i["created"],
            "created": i["created"],
            "modified": i["modified"],
            "services": [service_body(req, s, True) for s in services],
            "compatibility": complete(
                "AgentCompatibility",
                {"status": "compatible", "message": "Agent version is compatible."},
            ),
        },
    )


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


def ship_logs(req: Request) -> Response:
    entries = req.json()
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ApiError(400, ["Expected a list of log entries."])
    table = req.state.tables["agent_logs"]
    rows = [req.state.put("agent_logs", {"entry": entry}) for entry in entries]
    for uuid in list(table)[: max(0, len(table) - MAX_LOGS)]:
        req.state.remove("agent_logs", uuid)
    return created([log_body(req, row) for row in rows])


def log_body(req: Request, row: Obj) -> Obj:
    entry = row["entry"]
    body = {k: entry[k] for k in ("timestamp", "level", "message", "module") if k in entry}
    identity = req.state.get("identities", parse_uuid(entry.get("agent_identity_uuid")))
    if identity:
        body.update(
            offering=req.url("marketplace-provider-offerings", identity["offering"]),
            offering_uuid=identity["offering"],
            agent_identity_uuid=identity["uuid"],
        )
    return complete("SiteAgentLog", {"uuid": row["uuid"], **body, "created": row["created"]})


def report_command_result(req: Request) -> Response:
    policy = req.args[0]
    data = req.data()
    if parse_uuid(data.get("resource_uuid")) is None:
        raise invalid("resource_uuid", "Must be a valid UUID.")
    if not isinstance(data.get("success"), bool):
        raise invalid("success", "This field is required.")
    req.state.put("command_results", {"policy": parse_uuid(policy) or policy, **data})
    return ok()


def identity_lookup(req: Request) -> Obj:
    return _identity(req)


def register(router: Router) -> None:
    base = "/api/marketplace-site-agent-identities/"
    router.add("GET", base, list_identities)
    router.add("POST", base, create_identity)
    router.add("GET", base + "{uuid}/", retrieve_identity)
    router.add("PUT", base + "{uuid}/", update_identity)
    router.add("DELETE", base + "{uuid}/", delete_identity)
    router.add("POST", base + "{uuid}/register_service/", register_service)
    router.add("GET", "/api/marketplace-site-agent-services/", list_services)
    router.add(
        "POST",
        "/api/marketplace-site-agent-services/{uuid}/register_processor/",
        register_processor,
    )
    router.add("GET", "/api/marketplace-site-agent-processors/", list_processors)
    router.add("POST", "/api/marketplace-site-agent-logs/", ship_logs)
    router.add(
        "POST",
        "/api/marketplace-slurm-periodic-usage-policies/{uuid}/report-command-result/",
        report_command_result,
    )
