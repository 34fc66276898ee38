"""`/_sim/` admin API (staff token): faults, counters, request log, outbox, broker outage, clock.

Not part of Waldur; only tests and benchmarks call it. Nothing here changes Waldur's state."""

from __future__ import annotations

from dataclasses import fields
from datetime import timedelta
from typing import TYPE_CHECKING

from waldur_site_agent_actors.simulators.waldur import access
from waldur_site_agent_actors.simulators.waldur.errors import ApiError
from waldur_site_agent_actors.simulators.waldur.events import EventRouter
from waldur_site_agent_actors.simulators.waldur.faults import Fault
from waldur_site_agent_actors.simulators.waldur.http import Request, Response, Router, created, ok

if TYPE_CHECKING:
    from waldur_site_agent_actors.simulators.waldur.server import App

FAULT_FIELDS = {f.name for f in fields(Fault)}


def register(router: Router, app: App) -> None:
    def staff(handler):
        def wrapped(req: Request) -> Response:
            access.require_staff(req)
            return handler(req)

        return wrapped

    def router_of(req: Request) -> EventRouter:
        events = req.state.events
        if not isinstance(events, EventRouter):
            raise ApiError(400, {"detail": "A custom events hook is installed."})
        return events

    @staff
    def counters(req: Request) -> Response:
        snapshot = app.counters.snapshot()
        return ok({"counts": snapshot, "total": sum(snapshot.values())})

    @staff
    def reset_counters(req: Request) -> Response:
        app.counters.reset()
        return ok()

    @staff
    def requests(req: Request) -> Response:
        last = int(req.param("last") or 0)
        log = app.counters.requests()
        return ok(log[-last:] if last else log)

    @staff
    def list_faults(req: Request) -> Response:
        return ok(app.faults.describe())

    @staff
    def add_fault(req: Request) -> Response:
        spec = req.data()
        unknown = sorted(set(spec) - FAULT_FIELDS)
        if unknown:
            raise ApiError(400, {"detail": f"Unknown fault keys: {', '.join(unknown)}."})
        if "seed" in req.query:
            app.faults.reseed(int(req.param("seed") or 0))
        return created(app.faults.describe()[-1] if app.faults.add(**spec) else None)

    @staff
    def clear_faults(req: Request) -> Response:
        app.faults.clear()
        if req.param("seed"):
            app.faults.reseed(int(req.param("seed") or 0))
        return Response(204)

    @staff
    def outbox(req: Request) -> Response:
        return ok(router_of(req).messages(req.param("queue")))

    @staff
    def emitted(req: Request) -> Response:
        return ok(router_of(req).emitted)

    @staff
    def broker(req: Request) -> Response:
        events = router_of(req)
        down = req.data().get("down")
        if isinstance(down, bool):
            events.broker_down = down
        return ok({"down": events.broker_down, "configured": events.broker is not None})

    @staff
    def tokens(req: Request) -> Response:
        return ok({u["username"]: u["token"] for u in req.state.all("users")})

    @staff
    def clock(req: Request) -> Response:
        offset = req.data().get("offset_seconds")
        if isinstance(offset, int | float):
            req.state.clock_offset = timedelta(seconds=offset)
        return ok({"now": req.state.timestamp()})

    @staff
    def routes(req: Request) -> Response:
        return ok(router.templates())

    router.add("GET", "/_sim/counters/", counters)
    router.add("POST", "/_sim/counters/reset/", reset_counters)
    router.add("GET", "/_sim/requests/", requests)
    router.add("GET", "/_sim/faults/", list_faults)
    router.add("POST", "/_sim/faults/", add_fault)
    router.add("DELETE", "/_sim/faults/", clear_faults)
    router.add("GET", "/_sim/outbox/", outbox)
    router.add("GET", "/_sim/events/", emitted)
    router.add("POST", "/_sim/broker/", broker)
    router.add("GET", "/_sim/tokens/", tokens)
    router.add("POST", "/_sim/clock/", clock)
    router.add("GET", "/_sim/routes/", routes)
