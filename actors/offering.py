"""The offering actor: a sub-supervisor for one generation of one offering.

It holds no mode behaviour itself (Mopidy's thin core): children do the work, it routes events
and keeps each mode's latest status. When any child dies it gives up as a unit (OTP's
one_for_all inside one offering): it sets the generation's `stopping` signal and tells the
supervisor, which stops it. Stopping, it stops the children that use the backend and Waldur
actors together, with a deadline, and then those two, the backend last and always; only when
the backend actor has stopped does the supervisor hear `OfferingStopped`, so a new generation
never has a backend actor beside the old one.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import pykka

from waldur_site_agent_actors.actors import messages as m
from waldur_site_agent_actors.actors.backend import BackendActor, backend_proxy
from waldur_site_agent_actors.actors.child import ModeActor
from waldur_site_agent_actors.actors.context import MINUTE, OfferingContext
from waldur_site_agent_actors.actors.membership import MembershipActor
from waldur_site_agent_actors.actors.offering_child import reason, unfinished
from waldur_site_agent_actors.actors.orders import OrderActor
from waldur_site_agent_actors.actors.presence import PresenceActor
from waldur_site_agent_actors.actors.status import ModeStatus
from waldur_site_agent_actors.actors.stomp import StompActor, UnifiedQueueUnsupported, object_types
from waldur_site_agent_actors.actors.target_events import TargetEventsActor
from waldur_site_agent_actors.actors.usage import UsageActor
from waldur_site_agent_actors.actors.waldur_actor import WaldurActor, api_of

log = logging.getLogger("actors.offering")

CHILDREN_STOP_SECONDS = 15.0
"""How long the mode and event actors get to finish the item in hand (a STOMP connect is 10 s)."""

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


def backend_stop_seconds(context: OfferingContext) -> float:
    """The backend actor finishes the call in flight, whose commands have this timeout."""
    return context.root.command_timeout_seconds + 5


class OfferingActor(pykka.ThreadingActor):
    def __init__(
        self, context: OfferingContext, supervisor: pykka.ActorRef[Any], generation: int
    ) -> None:
        super().__init__()
        self.context = context
        self.supervisor = supervisor
        self.generation = generation
        self.backend: pykka.ActorRef[BackendActor] | None = None
        self.waldur: pykka.ActorRef[WaldurActor] | None = None
        self.children: dict[str, pykka.ActorRef[Any]] = {}  # the modes and events, by name
        self.presence: pykka.ActorRef[PresenceActor] | None = None
        self.status: dict[str, ModeStatus] = {}
        self.error: str | None = None
        self.log = logging.LoggerAdapter(log, {"offering": context.offering.name})

    @property
    def name(self) -> str:
        return self.context.offering.name

    def on_start(self) -> None:
        try:
            self._start_children()
        except pykka.ActorDeadError:
            pass  # a child died starting: its ChildDied, already in the mailbox, says why
        except Exception as exc:
            self.log.exception("start failed")
            self._die(f"start failed: {reason(exc)}")

    def _start_children(self) -> None:
        context, me = self.context, self.actor_ref
        self.waldur = WaldurActor.start(context, me)
        self.backend = BackendActor.start(context, me)
        # Asking surfaces a failing plugin constructor now rather than at the first order.
        backend, waldur = backend_proxy(self.backend), api_of(self.waldur)
        pings = backend.ping().get(timeout=context.root.command_timeout_seconds * 2)
        for role, ok in pings.items():
            if not ok:
                self.log.warning("%s backend did not answer its ping", role)
        # Asked before any mode starts, so no sweep's plugin call is ahead of it.
        order_caps = backend.capabilities("order").get(timeout=context.root.command_timeout_seconds)
        plan: dict[str, tuple[type[ModeActor], str, float]] = {
            "order_process": (OrderActor, "order", context.order_period),
            "report": (UsageActor, "report", context.root.report_period_minutes * MINUTE),
            "membership_sync": (MembershipActor, "membership", context.membership_period),
        }
        for mode, (cls, role, period) in plan.items():
            if not context.runs(mode) or not context.offering.backend_for(role):  # type: ignore[arg-type]
                continue
            self.children[mode] = cls.start(context, backend, waldur, me, period)
            self.status[mode] = ModeStatus()
        self.presence = PresenceActor.start(context, waldur, me)
        if context.events and object_types(context):
            self.children["event_process"] = StompActor.start(
                context, waldur, me, presence=self.presence.proxy()
            )
        if "order_process" in self.children and (
            order_caps["target_events"] or order_caps["target_poll_seconds"]
        ):
            # Orders waiting on the backend's own system end when it says they did.
            self.children["target_events"] = TargetEventsActor.start(
                context, backend, waldur, me, order_caps
            )
        if not self.children:
            self.log.warning("no mode enabled for this offering")

    def _fall_back_to_subscriptions(self) -> None:
        """An older Waldur: one subscription, queue and connection per object type."""
        assert self.waldur is not None and self.presence is not None, "started"
        self.children.pop("event_process").stop(block=False)
        waldur, presence = api_of(self.waldur), self.presence.proxy()
        for kind in object_types(self.context):
            self.children[f"event_process:{kind}"] = StompActor.start(
                self.context, waldur, self.actor_ref, kind, presence=presence
            )

    def on_receive(self, message: Any) -> Any:
        try:
            self._receive(message)
        except Exception as exc:  # a bug here: the offering restarts, it does not vanish
            self.log.exception("failed handling %s", type(message).__name__)
            self._die(f"offering actor: {reason(exc)}")

    def _receive(self, message: Any) -> None:
        if isinstance(message, m.ChildDied):
            self._die(f"{message.name} died: {message.error}")
        elif self.error is not None:
            return  # stopping: an event left unacknowledged is delivered again
        elif isinstance(message, m.CycleFinished):
            self._record(message)
        elif isinstance(message, UnifiedQueueUnsupported):
            self._fall_back_to_subscriptions()
        elif type(message) in EVENTS_TO_CHILD:
            self._route(EVENTS_TO_CHILD[type(message)], message)
        elif isinstance(message, (m.BrokerReconnected, m.ResyncRequested)):
            # A forced resync (Waldur's) also recreates what the backend lost.
            request = m.SweepRequested(recreate_missing=isinstance(message, m.ResyncRequested))
            for mode in ("membership_sync", "order_process"):
                if mode in self.children:
                    self.children[mode].tell(request)
            m.acknowledge(message)
        else:
            super().on_receive(message)

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
        """Give up: work under this generation ends now, and the supervisor stops it."""
        if self.error is not None:
            return
        self.error = error
        self.context.stopping.set()
        with contextlib.suppress(pykka.ActorDeadError):
            self.supervisor.tell(
                m.OfferingDied(
                    offering_uuid=self.context.uuid, error=error, generation=self.generation
                )
            )

    def on_stop(self) -> None:
        self.context.stopping.set()
        try:
            users = {**self.children, "presence": self.presence}
            stopping = {name: ref.stop(block=False) for name, ref in users.items() if ref}
            late = unfinished(stopping, CHILDREN_STOP_SECONDS)
            if late:
                self.log.warning(
                    "%s did not stop within %g s; they end on their own, without the backend",
                    ", ".join(late),
                    CHILDREN_STOP_SECONDS,
                )
        finally:
            self._stop_backend_and_waldur()
            with contextlib.suppress(pykka.ActorDeadError):
                self.supervisor.tell(
                    m.OfferingStopped(
                        offering_uuid=self.context.uuid,
                        generation=self.generation,
                        error=self.error,
                    )
                )

    def _stop_backend_and_waldur(self) -> None:
        stopping = {
            name: ref.stop(block=False)
            for name, ref in (("backend", self.backend), ("waldur", self.waldur))
            if ref is not None
        }
        seconds = backend_stop_seconds(self.context)
        late = unfinished(stopping, seconds)
        if "waldur" in late:
            self.log.warning("Waldur actor still in a call after %g s; it ends on its own", seconds)
        if "backend" in late:
            self.log.error(
                "backend actor still in a plugin call after %g s: this offering starts again "
                "only once that call returns",
                seconds,
            )
            stopping["backend"].get()  # never two backend actors for one offering

    def mode_status(self) -> dict[str, ModeStatus]:
        return {
            mode: ModeStatus(**{f: getattr(s, f) for f in s.__struct_fields__})
            for mode, s in self.status.items()
        }
