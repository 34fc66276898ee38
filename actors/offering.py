"""The offering actor: owns the backend actor and the mode children, routes messages to them.

It holds no mode behaviour itself (Mopidy's thin core): children do the work, it routes events,
keeps each mode's latest status, and dies as a unit when a child dies, so that the supervisor
restarts the whole offering from a clean state.
"""

from __future__ import annotations

import logging
from typing import Any

import pykka

from waldur_site_agent_actors.actors import messages as m
from waldur_site_agent_actors.actors.backend import BackendActor
from waldur_site_agent_actors.actors.context import OfferingContext
from waldur_site_agent_actors.actors.membership import MembershipActor
from waldur_site_agent_actors.actors.orders import OrderActor
from waldur_site_agent_actors.actors.presence import PresenceActor
from waldur_site_agent_actors.actors.status import ModeStatus
from waldur_site_agent_actors.actors.stomp import StompActor, UnifiedQueueUnsupported, object_types
from waldur_site_agent_actors.actors.target_events import TargetEventsActor
from waldur_site_agent_actors.actors.usage import UsageActor

log = logging.getLogger("actors.offering")

MINUTE = 60.0
EVENTS_TO_CHILD: dict[type[Any], str] = {
    m.OrderChanged: "order_process",
    m.PeriodicSettingsRequested: "order_process",
    m.ImportRequested: "order_process",
    m.KeyRotationRequested: "order_process",
    m.RoleChanged: "membership_sync",
    m.ResourceChanged: "membership_sync",
    m.OfferingUserChanged: "membership_sync",
    m.ProjectAccountChanged: "membership_sync",
}


class OfferingActor(pykka.ThreadingActor):
    def __init__(
        self, context: OfferingContext, supervisor: pykka.ActorRef[Any], generation: int
    ) -> None:
        super().__init__()
        self.context = context
        self.supervisor = supervisor
        self.generation = generation
        self.backend: pykka.ActorRef[BackendActor] | None = None
        self.children: dict[str, pykka.ActorRef[Any]] = {}
        self.presence_ref: pykka.ActorRef[PresenceActor] | None = None
        self.timers: list[int] = []
        self.status: dict[str, ModeStatus] = {}
        self.dead = False
        self.log = logging.LoggerAdapter(log, {"offering": context.offering.name})

    @property
    def name(self) -> str:
        return self.context.offering.name

    def on_start(self) -> None:
        try:
            self._start_children()
        except Exception as exc:
            self.log.exception("start failed")
            self._die(f"start failed: {type(exc).__name__}: {exc}")

    def _start_children(self) -> None:
        context = self.context
        self.backend = BackendActor.start(context.offering, context.root)
        # Asking surfaces a failing plugin constructor now rather than at the first order.
        pings = self.backend.proxy().ping().get(timeout=context.root.command_timeout_seconds * 2)
        for role, ok in pings.items():
            if not ok:
                self.log.warning("%s backend did not answer its ping", role)
        backend = self.backend.proxy()
        me = self.actor_ref
        plan = {
            "order_process": (OrderActor, "order", context.order_period),
            "report": (UsageActor, "report", context.root.report_period_minutes * MINUTE),
            "membership_sync": (MembershipActor, "membership", context.membership_period),
        }
        for mode, (cls, role, period) in plan.items():
            if not context.runs(mode) or not context.offering.backend_for(role):  # type: ignore[arg-type]
                continue
            child = cls.start(context, backend, me)
            self.children[mode] = child
            self.status[mode] = ModeStatus()
            tick = {
                "order_process": m.OrderTick(),
                "report": m.UsageTick(),
                "membership_sync": m.MembershipTick(),
            }[mode]
            self.timers.append(context.timer.every(child, tick, period, first=0.0))
        self.presence_ref = PresenceActor.start(context, context.waldur, me)
        if context.events and object_types(context):
            self.children["event_process"] = StompActor.start(context, me, presence=self.presence)
        if "order_process" in self.children:
            caps = backend.capabilities("order").get(timeout=context.root.command_timeout_seconds)
            if caps["target_events"] or caps["target_poll_seconds"]:
                # Orders waiting on the backend's own system end when it says they did.
                self.children["target_events"] = TargetEventsActor.start(context, backend, me, caps)
        if not self.children:
            self.log.warning("no mode enabled for this offering")

    @property
    def presence(self) -> Any:
        """The identity registered in Waldur, which the event queues are registered under."""
        assert self.presence_ref is not None, "started"
        return self.presence_ref.proxy()

    def _fall_back_to_subscriptions(self) -> None:
        """An older Waldur: one subscription, queue and connection per object type."""
        self.children.pop("event_process").stop(block=False)
        for kind in object_types(self.context):
            self.children[f"event_process:{kind}"] = StompActor.start(
                self.context, self.actor_ref, kind, presence=self.presence
            )

    def on_stop(self) -> None:
        self.context.timer.cancel_all(self.timers)
        for child in reversed(list(self.children.values())):
            child.stop(block=True, timeout=60)
        if self.presence_ref is not None:
            self.presence_ref.stop(block=True, timeout=60)
        if self.backend is not None:
            # The backend actor finishes the call in flight before it stops.
            self.backend.stop(block=True, timeout=self.context.root.command_timeout_seconds + 5)

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, m.CycleFinished):
            self._record(message)
        elif isinstance(message, UnifiedQueueUnsupported):
            self._fall_back_to_subscriptions()
        elif isinstance(message, m.ChildDied):
            self._die(f"{message.name} died: {message.error}")
        elif type(message) in EVENTS_TO_CHILD:
            self._route(EVENTS_TO_CHILD[type(message)], message)
        elif isinstance(message, (m.BrokerReconnected, m.ResyncRequested)):
            forced = isinstance(message, m.ResyncRequested)
            for mode, tick in (
                ("membership_sync", m.MembershipTick(recreate_missing=forced)),
                ("order_process", m.OrderTick()),
            ):
                if mode in self.children:
                    self.children[mode].tell(tick)
            m.acknowledge(message)
        else:
            return super().on_receive(message)
        return None

    def _route(self, mode: str, message: Any) -> None:
        child = self.children.get(mode)
        if child is None:
            self.log.debug("%s has no handler here", type(message).__name__)
            m.acknowledge(message)
            return
        child.tell(message)

    def _record(self, message: m.CycleFinished) -> None:
        status = self.status.setdefault(message.mode, ModeStatus())
        status.cycles += 1
        status.last_cycle_at = message.finished_at
        status.last_summary = message.summary
        if message.error:
            status.errors += 1
        status.last_error = message.error

    def _die(self, error: str) -> None:
        if self.dead:
            return
        self.dead = True
        self.supervisor.tell(
            m.OfferingDied(
                offering_uuid=self.context.offering.waldur_offering_uuid,
                error=error,
                generation=self.generation,
            )
        )
        self.stop()

    def mode_status(self) -> dict[str, ModeStatus]:
        return {
            mode: ModeStatus(**{f: getattr(s, f) for f in s.__struct_fields__})
            for mode, s in self.status.items()
        }
