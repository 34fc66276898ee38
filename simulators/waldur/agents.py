"""The agent registry: identities, their services and processors; the agent's shipped logs, the
integration status its requests leave, and the periodic-limits command results it reports."""

from __future__ import annotations

import re

from waldur_site_agent_actors.simulators.waldur import access
from waldur_site_agent_actors.simulators.waldur.errors import ApiError, invalid
from waldur_site_agent_actors.simulators.waldur.http import Request, Response, Router, created, ok
from waldur_site_agent_actors.simulators.waldur.listing import choices, paginate, uuids
from waldur_site_agent_actors.simulators.waldur.listing import one as one_body
from waldur_site_agent_actors.simulators.waldur.render import complete
from waldur_site_agent_actors.simulators.waldur.state import Obj, State, parse_uuid

MAX_LOGS = 1000
LEVELS = ("CRITICAL", "DEBUG", "ERROR", "INFO", "WARNING")
AGENT_TYPES = {
    "order_process": "Order processing",
    "report": "Usage reporting",
    "membership_sync": "Resource sync",
    "event_process": "Event processing",
}
"""The agent type Waldur files a request under, by the mode in the agent's User-Agent
(`waldur-site-agent-<mode>/<version>`)."""
AGENT_USER_AGENT = re.compile(r"^waldur-site-agent-(\w+)/")


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
    """`SiteAgentLogCreateRequest` many: every entry is checked, errors listed per entry."""
    entries = req.json()
    if not isinstance(entries, list):
        kind = type(entries).__name__
        raise ApiError(
            400, {"non_field_errors": [f'Expected a list of items but got type "{kind}".']}
        )
    errors = [_log_entry_errors(req, entry) for entry in entries]
    if any(errors):
        raise ApiError(400, errors)
    table = req.state.tables["agent_logs"]
    rows = [
        req.state.put(
            "agent_logs",
            {
                "identity": parse_uuid(entry["agent_identity_uuid"]),
                **{k: entry[k] for k in ("timestamp", "level", "message", "module")},
            },
        )
        for entry in entries
    ]
    for uuid in list(table)[: max(0, len(table) - MAX_LOGS)]:
        req.state.remove("agent_logs", uuid)
    return created([log_body(req, row) for row in rows])


def _log_entry_errors(req: Request, entry: object) -> Obj:
    if not isinstance(entry, dict):
        kind = type(entry).__name__
        return {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {kind}."]}
    errors: Obj = {}
    for key in ("agent_identity_uuid", "timestamp", "level", "message", "module"):
        if entry.get(key) is None:
            errors[key] = ["This field is required."]
    identity = req.state.get("identities", parse_uuid(entry.get("agent_identity_uuid")))
    if "agent_identity_uuid" not in errors and (
        identity is None or not _visible_identity(req.state, req.me, identity)
    ):
        errors["agent_identity_uuid"] = ["Agent identity not found."]
    timestamp = entry.get("timestamp")
    if timestamp is not None and (
        isinstance(timestamp, bool) or not isinstance(timestamp, int | float)
    ):
        errors["timestamp"] = ["A valid number is required."]
    level = entry.get("level")
    if level is not None and level not in LEVELS:
        errors["level"] = [f'"{level}" is not a valid choice.']
    for key in ("message", "module"):
        if entry.get(key) is not None and not isinstance(entry[key], str):
            errors[key] = ["Not a valid string."]
    return errors


def list_logs(req: Request) -> Response:
    identities = uuids(req, "agent_identity_uuid")
    offerings = uuids(req, "offering_uuid")
    levels = choices(req, "level", LEVELS)
    found = []
    for row in req.state.all("agent_logs"):
        identity = req.state.get("identities", row["identity"])
        if (
            identity is not None
            and _visible_identity(req.state, req.me, identity)
            and (identities is None or identity["uuid"] in identities)
            and (offerings is None or identity["offering"] in offerings)
            and (levels is None or row["level"] in levels)
        ):
            found.append(row)
    return paginate(req, found, lambda row: log_body(req, row))


def log_body(req: Request, row: Obj) -> Obj:
    identity = req.state.get("identities", row["identity"]) or {}
    return complete(
        "SiteAgentLog",
        {
            "uuid": row["uuid"],
            "offering": req.url("marketplace-provider-offerings", identity.get("offering", "")),
            "offering_uuid": identity.get("offering"),
            "agent_identity_uuid": row["identity"],
            **{k: row[k] for k in ("timestamp", "level", "message", "module")},
            "created": row["created"],
        },
    )


def note_agent_request(req: Request, status: int) -> None:
    """Waldur's integration status: the last time an agent of each type asked about an
    offering (its orders, or the offering itself), by the mode in its User-Agent."""
    found = AGENT_USER_AGENT.match(req.user_agent)
    agent_type = AGENT_TYPES.get(found.group(1)) if found else None
    if agent_type is None or req.method != "GET" or status >= 400:
        return
    if req.template == "GET /api/marketplace-provider-offerings/{uuid}/":
        named = req.args[0]
    elif req.template == "GET /api/marketplace-orders/":
        named = req.param("offering_uuid") or ""
    else:
        return
    offering = req.state.get("offerings", parse_uuid(named))
    if offering is None:
        return
    row = req.state.first("integration_statuses", offering=offering["uuid"], agent_type=agent_type)
    row = row or {"offering": offering["uuid"], "agent_type": agent_type}
    row["last_request_timestamp"] = req.state.timestamp()
    req.state.put("integration_statuses", row)


def list_integration_statuses(req: Request) -> Response:
    offerings = uuids(req, "offering_uuid")
    types = choices(req, "agent_type", AGENT_TYPES.values())
    found = [
        row
        for row in req.state.all("integration_statuses")
        if (offerings is None or row["offering"] in offerings)
        and (types is None or row["agent_type"] in types)
        and access.manages_offering(
            req.state, req.me, req.state.get("offerings", row["offering"]) or {}
        )
    ]
    return paginate(req, found, lambda row: integration_status_body(req, row))


def integration_status_body(req: Request, row: Obj) -> Obj:
    """The simulator knows of no disconnection: an agent it heard from is `Active`."""
    return complete(
        "IntegrationStatusDetails",
        {
            "agent_type": row["agent_type"],
            "status": "Active",
            "last_request_timestamp": row["last_request_timestamp"],
            "offering": req.url("marketplace-provider-offerings", row["offering"]),
            "url": req.url("marketplace-integration-statuses", row["uuid"]),
        },
    )


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
    router.add("GET", "/api/marketplace-site-agent-logs/", list_logs)
    router.add("GET", "/api/marketplace-integration-statuses/", list_integration_statuses)
    router.add(
        "POST",
        "/api/marketplace-slurm-periodic-usage-policies/{uuid}/report-command-result/",
        report_command_result,
    )
