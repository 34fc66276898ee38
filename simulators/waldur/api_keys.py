"""Resource API keys: the consumer asks for keys and rotations, the agent reports what the backend
issued (`report_created`, `set_key`) or that it failed (`set_erred`).

Waldur keeps each secret (encrypted) for the resource's team; this stand-in keeps only its
SHA-256 (`secret_sha256`, never rendered), so a test can check that the secret Waldur was given
is the one the backend holds without the simulator holding a secret."""

from __future__ import annotations

import hashlib

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
from waldur_site_agent_actors.simulators.waldur.state import Obj, State, parse_uuid

STATES = ("Creating", "OK", "Updating", "Paused", "Deleting", "Deleted", "Erred")
ACTIONS = ("create", "delete", "pause", "resume", "rotate", "update")
BASE = "/api/marketplace-resource-api-keys/"


def digest(secret: object) -> str:
    return hashlib.sha256(str(secret).encode()).hexdigest()


def body(req: Request, k: Obj) -> Obj:
    r = req.state.get("resources", k["resource"]) or {}
    u = req.state.get("users", k.get("user")) or {}
    return complete(
        "ResourceApiKeyStatus",
        {
            "uuid": k["uuid"],
            "resource_uuid": k["resource"],
            "resource_backend_id": r.get("backend_id", ""),
            "pending_action": k.get("pending_action", ""),
            "modified": k["modified"],
            "user_uuid": k.get("user"),
            "user_full_name": u.get("full_name"),
            "limits": k.get("limits"),
            "allowed_models": k.get("allowed_models"),
            "current_usages": k.get("current_usages"),
            "usage_period": k.get("usage_period"),
            "paused_by_limit": k.get("paused_by_limit"),
            "client_id": k.get("client_id", ""),
            "state": k["state"],
            "issued_at": k.get("issued_at"),
            "error_message": k.get("error_message", ""),
        },
    )


def request_rotation(state: State, key: Obj) -> None:
    key.update(state="Updating", pending_action="rotate")
    state.put("api_keys", key)
    r = state.get("resources", key["resource"]) or {}
    state.emit(
        "resource_api_key_rotation",
        key["offering"],
        {
            "action": "rotate",
            "resource_uuid": key["resource"],
            "resource_backend_id": r.get("backend_id", ""),
            "api_key_uuid": key["uuid"],
            "client_id": key.get("client_id", ""),
        },
    )


def _visible(state: State, user: Obj, k: Obj) -> bool:
    r = state.get("resources", k["resource"])
    return r is not None and access.sees_resource(state, user, r)


def _key(req: Request) -> Obj:
    return access.lookup(req, "api_keys", req.args[0], "ResourceApiKey", _visible)


def _provider_key(req: Request) -> Obj:
    k = _key(req)
    offering = req.state.get("offerings", k["offering"]) or {}
    access.require(access.manages_offering(req.state, req.me, offering))
    return k


def list_keys(req: Request) -> Response:
    resources, offerings = uuids(req, "resource_uuid"), uuids(req, "offering_uuid")
    states = choices(req, "state", STATES)
    actions = choices(req, "pending_action", ACTIONS)
    before = a_datetime(req, "modified_before")
    found = [
        k
        for k in req.state.all("api_keys")
        if (resources is None or k["resource"] in resources)
        and (offerings is None or k["offering"] in offerings)
        and (states is None or k["state"] in states)
        and (actions is None or k.get("pending_action") in actions)
        and (before is None or parse_stamp(k["modified"]) < before)
        and _visible(req.state, req.me, k)
    ]
    return paginate(req, found, lambda k: body(req, k))


def retrieve(req: Request) -> Response:
    return one_body(req, body(req, _key(req)))


def _resource(req: Request, data: Obj) -> Obj:
    r = req.state.get("resources", parse_uuid(data.get("resource")))
    if r is None:
        raise invalid("resource", "Object with uuid does not exist.")
    return r


def create(req: Request) -> Response:
    """The consumer asks for a key; the agent sees it in state Creating."""
    data = req.data()
    r = _resource(req, data)
    project = req.state.get("projects", r["project"]) or {"uuid": r["project"]}
    access.require(access.sees_project(req.state, req.me, project))
    k = req.state.put("api_keys", {
        "resource": r["uuid"], "offering": r["offering"], "user": req.me["uuid"],
        "state": "Creating", "pending_action": "create", "limits": data.get("limits"),
        "allowed_models": data.get("allowed_models"),
    })  # fmt: skip
    return created(body(req, k))


def report_created(req: Request) -> Response:
    data = req.data()
    r = _resource(req, data)
    offering = req.state.get("offerings", r["offering"]) or {}
    access.require(access.manages_offering(req.state, req.me, offering))
    for field in ("client_id", "api_key"):
        if not data.get(field):
            raise invalid(field, "This field is required.")
    k = req.state.put("api_keys", {
        "resource": r["uuid"], "offering": r["offering"], "user": None, "state": "OK",
        "pending_action": "", "client_id": str(data["client_id"]),
        "issued_at": req.state.timestamp(), "secret_sha256": digest(data["api_key"]),
    })  # fmt: skip
    return created(body(req, k))


def set_key(req: Request) -> Response:
    k = _provider_key(req)
    data = req.data()
    if not data.get("api_key"):
        raise invalid("api_key", "This field is required.")
    if k["state"] not in ("Creating", "Updating", "Erred"):
        raise detail(409, "Valid states for operation: Creating, Updating, Erred.")
    k.update(state="OK", pending_action="", issued_at=req.state.timestamp(), error_message="")
    k["secret_sha256"] = digest(data["api_key"])
    if data.get("client_id"):
        k["client_id"] = str(data["client_id"])
    req.state.put("api_keys", k)
    return ok(body(req, k))


def set_erred(req: Request) -> Response:
    k = _provider_key(req)
    k.update(state="Erred", error_message=str(req.data().get("error_message") or ""))
    req.state.put("api_keys", k)
    return ok(body(req, k))


def rotate(req: Request) -> Response:
    k = _key(req)
    if k["state"] != "OK":
        raise detail(409, "Valid states for operation: OK.")
    request_rotation(req.state, k)
    return Response(202, status("Key rotation has been requested."))


def register(router: Router) -> None:
    router.add("GET", BASE, list_keys)
    router.add("POST", BASE, create)
    router.add("POST", BASE + "report_created/", report_created)
    router.add("GET", BASE + "{uuid}/", retrieve)
    router.add("POST", BASE + "{uuid}/set_key/", set_key)
    router.add("POST", BASE + "{uuid}/set_erred/", set_erred)
    router.add("POST", BASE + "{uuid}/rotate/", rotate)
