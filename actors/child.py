"""What the three mode actors share: one tick at a time (fixed delay), cycle reports, and the
typed proxies of the backend and Waldur actors they work through."""

from __future__ import annotations

import time
from typing import Any, ClassVar, cast

import pykka

from waldur_site_agent_actors.actors import messages as m
from waldur_site_agent_actors.actors import metrics
from waldur_site_agent_actors.actors.backend import BackendProxy, PluginProxy
from waldur_site_agent_actors.actors.context import OfferingContext
from waldur_site_agent_actors.actors.failure import waldur_error
from waldur_site_agent_actors.actors.lanes import Lanes
from waldur_site_agent_actors.actors.offering_child import OfferingChild
from waldur_site_agent_actors.actors.waldur.api import WaldurApiProxy


class ModeActor(OfferingChild):
    """One mode of one offering: a sweep every period, and events in between.

    Fixed delay: the next tick is armed when a sweep ends, and an actor never has more than one
    tick armed or queued, whatever asks for an earlier sweep (`schedule`).
    """

    mode = "abstract"
    role = "order"
    tick: ClassVar[m.Message]
    lanes: Lanes | None = None

    def __init__(
        self,
        context: OfferingContext,
        backend: BackendProxy,
        waldur: WaldurApiProxy,
        parent: pykka.ActorRef[Any],
        period: float,
    ) -> None:
        super().__init__(context, parent, self.mode)
        self.backend = backend
        self.waldur = waldur
        self.period = period
        self.tick_handle: int | None = None
        self.tick_due = 0.0
        self.cycle_began = 0.0

    @property
    def waldur(self) -> WaldurApiProxy:
        """In one of the actor's lanes, the lane's own Waldur actor; elsewhere the offering's."""
        own = self.lanes.waldur() if self.lanes is not None else None
        return own if own is not None else self._waldur

    @waldur.setter
    def waldur(self, value: WaldurApiProxy) -> None:
        self._waldur = value

    def open_lanes(self) -> None:
        """For a mode whose sweep has independent items: lanes to carry them out at once."""
        self.lanes = Lanes(self.context, self.parent, self.mode)

    def setup(self) -> None:
        metrics.mode_started(self.offering.name, self.mode, self.period)
        self.prepare()
        self.schedule(0.0)

    def teardown(self) -> None:
        if self.lanes is not None:
            self.lanes.close()

    def prepare(self) -> None:
        """Per-mode start-up, in the actor's thread."""

    def cycle(self) -> None:
        """One sweep of this mode."""

    def sweep_requested(self, request: m.SweepRequested) -> None:
        """What an early sweep is asked to do besides sweeping."""

    def handle(self, message: Any) -> Any:
        """This mode's events."""
        return super().receive(message)

    def receive(self, message: Any) -> Any:
        if self.stopping:
            # Dropped: the next generation sweeps anyway, and an event left unacknowledged
            # is delivered again by the broker.
            return None
        if isinstance(message, type(self.tick)):
            self.tick_handle = None
            self.cycle_began = time.monotonic()
            try:
                self.cycle()
            finally:
                self.schedule(self.period)
        elif isinstance(message, m.SweepRequested):
            self.sweep_requested(message)
            self.schedule(0.0)
        else:
            return self.handle(message)
        return None

    def schedule(self, delay: float) -> None:
        """Sweep in `delay` seconds, unless a sweep is already due sooner."""
        now = time.monotonic()
        if self.tick_handle is not None:
            if self.tick_due <= now + delay:
                return
            if not self.context.timer.cancel(self.tick_handle):
                return  # it fired: the tick is in the mailbox already
        self.tick_handle = self.context.timer.once(self.actor_ref, self.tick, delay)
        self.tick_due = now + delay

    @property
    def user_agent(self) -> str:
        """Upstream's User-Agent for this mode: Waldur files the requests that carry it under
        the mode's integration status (order processing, usage reporting, resource sync)."""
        return f"waldur-site-agent-{self.mode}/{self.context.version}"

    def announce(self) -> None:
        """Ask Waldur about the offering as this mode, as upstream's processors do each cycle:
        a mode whose own calls Waldur does not file under it stays visible there."""
        self.waldur.offerings.get(self.context.uuid, self.user_agent).get()

    @property
    def plugin(self) -> PluginProxy:
        """This mode's plugin, through the backend actor: every call returns a future."""
        return cast(PluginProxy, getattr(self.backend, self.role))

    def finished(self, error: str | None = None, summary: str = "", fixed: int = 0) -> None:
        """The sweep ended; `fixed`: what it did that events had not, when it reconciles."""
        metrics.cycle_finished(
            self.offering.name,
            self.mode,
            time.monotonic() - self.cycle_began,
            ok=error is None,
            reconciliation=self.context.events and self.mode != "report",
            fixed=fixed,
        )
        self.tell_parent(
            m.CycleFinished(mode=self.mode, finished_at=time.time(), error=error, summary=summary)
        )

    def waldur_error(self, exc: BaseException) -> tuple[str, str]:
        """The message and traceback Waldur is told of a failed operation."""
        return waldur_error(exc, self.context.root.expose_backend_error_details)
