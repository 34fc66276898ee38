"""Event subscriptions and their queues (per object type), the unified agent queue, and the
broker side effects Mastermind has when they are registered or deleted."""

from __future__ import annotations

from waldur_site_agent_actors.simulators.waldur import access
from waldur_site_agent_actors.simulators.waldur.agents import identity_lookup as _identity
from waldur_site_agent_actors.simulators.waldur.errors import detail, invalid
from waldur_site_agent_actors.simulators.waldur.events import EventRouter
from waldur_site_agent_actors.simulators.waldur.http import Request, Response, Router, ok
from waldur_site_agent_actors.simulators.waldur.listing import one as one_body
from waldur_site_agent_actors.simulators.waldur.listing import paginate, uuids
from waldur_site_agent_actors.simulators.waldur.render import complete
from waldur_site_agent_actors.simulators.waldur.state import Obj, parse_uuid

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


def subscription_body(req: Request, s: Obj) -> Obj:
    user = req.state.get("users", s["user"]) or {}
    return complete(
        "EventSubscription",
        {
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
        },
    )


def queue_body(req: Request, q: Obj) -> Obj:
    return complete(
        "EventSubscriptionQueue",
        {
            "uuid": q["uuid"],
            "url": req.url("event-subscription-queues", q["uuid"]),
            "event_subscription": req.url("event-subscriptions", q["subscription"]),
            "event_subscription_uuid": q["subscription"],
            "offering_uuid": q["offering"],
            "object_type": q["object_type"],
            "queue_name": q["queue_name"],
            "vhost": q["vhost"],
            "created": q["created"],
        },
    )


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
        complete(
            "AgentQueueRegistrationResponse",
            {
                "rmq_username": queue["rmq_username"],
                "queue_name": queue["queue_name"],
                "vhost": queue["vhost"],
                "observable_object_types": queue["object_types"] or list(OBJECT_TYPES),
            },
        )
    )


def register(router: Router) -> None:
    base = "/api/marketplace-site-agent-identities/"
    router.add("POST", base + "{uuid}/register_event_subscription/", register_event_subscription)
    router.add("POST", base + "{uuid}/register_queue/", register_queue)
    router.add("GET", "/api/event-subscriptions/", list_subscriptions)
    router.add("GET", "/api/event-subscriptions/{uuid}/", retrieve_subscription)
    router.add("DELETE", "/api/event-subscriptions/{uuid}/", delete_subscription)
    router.add("POST", "/api/event-subscriptions/{uuid}/create_queue/", create_queue)
    router.add("GET", "/api/event-subscription-queues/", list_queues)
