"""Importable resources: backend resource requests (Sent -> Processing -> Done/Erred, each
announced as an `importable_resources` event) and the backend resources the agent reports."""

from __future__ import annotations

from waldur_site_agent_actors.simulators.waldur import access
from waldur_site_agent_actors.simulators.waldur.errors import detail, invalid
from waldur_site_agent_actors.simulators.waldur.http import Request, Response, Router, created, ok
from waldur_site_agent_actors.simulators.waldur.listing import (
    a_datetime,
    choices,
    paginate,
    parse_stamp,
    uuids,
)
from waldur_site_agent_actors.simulators.waldur.listing import one as one_body
from waldur_site_agent_actors.simulators.waldur.render import complete, status
from waldur_site_agent_actors.simulators.waldur.state import Obj, parse_uuid


def backend_request_body(req: Request, b: Obj) -> Obj:
    offering = req.state.get("offerings", b["offering"]) or {}
    return complete(
        "BackendResourceReq",
        {
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
        },
    )


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


REQUEST_STATES = ("Sent", "Processing", "Done", "Erred")


def list_backend_requests(req: Request) -> Response:
    """The offerings' requests the caller manages, newest first, as Mastermind orders them."""
    offerings = uuids(req, "offering_uuid")
    states = choices(req, "state", REQUEST_STATES)
    before = a_datetime(req, "created_before")
    found = [
        b
        for b in req.state.all("backend_requests")
        if (offerings is None or b["offering"] in offerings)
        and (states is None or b["state"] in states)
        and (before is None or parse_stamp(b["created"]) < before)
        and access.manages_offering(
            req.state, req.me, req.state.get("offerings", b["offering"]) or {}
        )
    ]
    found.reverse()
    return paginate(req, found, lambda b: backend_request_body(req, b))


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
        return ok(status(f"Backend resource request is {target.lower()}."))

    return handler


def backend_resource_body(req: Request, b: Obj) -> Obj:
    offering = req.state.get("offerings", b["offering"]) or {}
    project = req.state.get("projects", b["project"]) or {}
    return complete(
        "BackendResource",
        {
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
        },
    )


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
    base = "/api/backend-resource-requests/"
    router.add("GET", base, list_backend_requests)
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
