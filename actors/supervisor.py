"""The supervisor: one child per offering, restarted one_for_one with backoff and an intensity.

OTP's rules, with supervisord's state names:

- A generation that dies (`OfferingDied`) is stopped, and the next one starts only once the old
  one said `OfferingStopped`, that is once its backend actor has stopped: never two backend
  actors for one offering. Until then it is STOPPING; past `stop_overdue_seconds` that is
  logged as an error, and it stays STOPPING, without a twin, until its backend call returns.
- It restarts after a backoff (BACKOFF), `backoff_initial_seconds` doubling to
  `backoff_max_seconds`.
- More than `max_restarts` restarts within `within_seconds` and it is given up (FAILED): it is
  tried again after `within_seconds`, doubling up to FAILED_RETRY_MAX_SECONDS; a retry that
  dies before running `within_seconds` is FAILED again at once, one that lived that long is
  back under the normal policy. Every other offering keeps running, and a FAILED offering
  never takes the process down: escalating to systemd would restart the healthy ones too.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Callable
from typing import Any

import msgspec
import pykka

from waldur_site_agent_actors.actors import messages as m
from waldur_site_agent_actors.actors import metrics
from waldur_site_agent_actors.actors.offering_child import reason, unfinished
from waldur_site_agent_actors.actors.status import OfferingStatus
from waldur_site_agent_actors.actors.timer import Timer
from waldur_site_agent_actors.config.model import AgentConfig, Offering, Supervision

log = logging.getLogger("actors.supervisor")

StartChild = Callable[[Offering, int, pykka.ActorRef[Any]], pykka.ActorRef[Any]]
"""Starts an offering actor for (offering, generation, supervisor ref) and returns its ref."""

STARTING, RUNNING, STOPPING, BACKOFF, FAILED = (
    "STARTING",
    "RUNNING",
    "STOPPING",
    "BACKOFF",
    "FAILED",
)
FAILED_RETRY_MAX_SECONDS = 3600.0
"""A given-up offering is tried again at least once an hour."""
SHUTDOWN_SECONDS = 25.0
"""How long the agent's stop waits for its offerings (within the service's own 30 s bound)."""


def stop_overdue_seconds(config: AgentConfig) -> float:
    """Past this, a stopping generation is stuck in a call (its children's deadline, then the
    backend's, with room to spare)."""
    return 2 * config.command_timeout_seconds + 30


class Child:
    """The supervisor's record of one offering (its own state, never shared)."""

    def __init__(self, offering: Offering) -> None:
        self.offering = offering
        self.ref: pykka.ActorRef[Any] | None = None
        self.stopped: pykka.Future[bool] | None = None  # set when the generation has stopped
        self.state = STARTING
        self.generation = 0
        self.started_at = 0.0
        self.restarts: collections.deque[float] = collections.deque()
        self.failures = 0  # times given up in a row
        self.total_restarts = 0
        self.last_error: str | None = None
        self.then: Offering | None = None  # a reload's new settings, started once stopped
        self.removed = False  # a reload dropped it: forgotten once stopped

    @property
    def uuid(self) -> str:
        return self.offering.waldur_offering_uuid


class Supervisor(pykka.ThreadingActor):
    def __init__(self, config: AgentConfig, start_child: StartChild, timer: Timer) -> None:
        super().__init__()
        self.config = config
        self.policy: Supervision = config.supervision
        self.start_child = start_child
        self.timer = timer
        self.children: dict[str, Child] = {}

    def on_start(self) -> None:
        for offering in self.config.offerings:
            self._start(Child(offering))

    def on_stop(self) -> None:
        """Stop every offering together; wait for them, within SHUTDOWN_SECONDS."""
        for child in self.children.values():
            self._stop_generation(child)
        waiting = {c.offering.name: c.stopped for c in self.children.values() if c.stopped}
        late = unfinished(waiting, SHUTDOWN_SECONDS)
        if late:
            log.warning(
                "%s still stopping after %g s, in a call to Waldur or the backend that does "
                "not return",
                ", ".join(late),
                SHUTDOWN_SECONDS,
            )

    def on_receive(self, message: Any) -> Any:
        child = self.children.get(getattr(message, "offering_uuid", ""))
        if child is None or getattr(message, "generation", None) != child.generation:
            return None  # a late word from a generation already replaced
        if isinstance(message, m.OfferingDied):
            self._died(child, message.error)
        elif isinstance(message, m.OfferingStopped):
            self._stopped(child, message.error)
        elif isinstance(message, m.StopOverdue):
            if child.state == STOPPING:
                log.error(
                    "generation %d still stopping after %g s, stuck in a backend call; no "
                    "new generation starts until it returns",
                    child.generation,
                    stop_overdue_seconds(self.config),
                    extra=_tag(child),
                )
        elif isinstance(message, m.RestartOffering) and child.state in (BACKOFF, FAILED):
            self._start(child)
        return None

    def _start(self, child: Child) -> None:
        self.children[child.uuid] = child
        child.generation += 1
        child.state = STARTING
        child.started_at = time.monotonic()
        metrics.offering_state(child.offering.name, STARTING)
        try:
            child.ref = self.start_child(child.offering, child.generation, self.actor_ref)
        except Exception as exc:  # a failing start is a death like any other
            log.exception("failed to start", extra=_tag(child))
            self._stopped(child, reason(exc))
            return
        child.state = RUNNING
        metrics.offering_state(child.offering.name, RUNNING)
        log.info("running (generation %d)", child.generation, extra=_tag(child))

    def _died(self, child: Child, error: str) -> None:
        child.last_error = error
        log.warning("died (%s); stopping it", error, extra=_tag(child))
        self._stop_generation(child)

    def _stop_generation(self, child: Child) -> None:
        """Tell the generation to stop; `OfferingStopped` says when it has."""
        if child.ref is None or child.stopped is not None:
            return
        child.state = STOPPING
        metrics.offering_state(child.offering.name, STOPPING)
        child.stopped = child.ref.stop(block=False)
        overdue = m.StopOverdue(offering_uuid=child.uuid, generation=child.generation)
        self.timer.once(self.actor_ref, overdue, stop_overdue_seconds(self.config))

    def _stopped(self, child: Child, error: str | None) -> None:
        child.ref, child.stopped = None, None
        if child.removed:
            del self.children[child.uuid]
            metrics.offering_removed(child.offering.name)
            log.info("stopped and removed", extra=_tag(child))
        elif child.then is not None:
            self._start(_renewed(child, child.then))
        else:
            child.last_error = error or "stopped unexpectedly"
            self._restart_later(child)

    def _restart_later(self, child: Child) -> None:
        now = time.monotonic()
        window = self.policy.within_seconds
        if now - child.started_at >= window:
            child.failures = 0  # it ran a whole window: a fresh fault, not the old one back
        while child.restarts and now - child.restarts[0] > window:
            child.restarts.popleft()
        child.restarts.append(now)
        child.total_restarts += 1
        if child.failures or len(child.restarts) > self.policy.max_restarts:
            why = (
                "its retry died"
                if child.failures
                else f"{len(child.restarts) - 1} restarts within {window:g} s"
            )
            child.failures += 1
            child.state = FAILED
            delay = min(FAILED_RETRY_MAX_SECONDS, window * 2 ** (child.failures - 1))
            log.error(
                "FAILED: %s; last error: %s; other offerings keep running; tried again in %.0f s",
                why,
                child.last_error,
                delay,
                extra=_tag(child),
            )
        else:
            child.state = BACKOFF
            delay = min(
                self.policy.backoff_max_seconds,
                self.policy.backoff_initial_seconds * 2 ** (len(child.restarts) - 1),
            )
            log.warning("restarting in %.1f s", delay, extra=_tag(child))
        metrics.offering_state(child.offering.name, child.state)
        metrics.offering_restarted(child.offering.name)
        again = m.RestartOffering(offering_uuid=child.uuid, generation=child.generation)
        self.timer.once(self.actor_ref, again, delay)

    # -- asked by the service ----------------------------------------------------------------

    def status(self) -> list[OfferingStatus]:
        result = []
        for child in self.children.values():
            modes = {}
            if child.ref is not None and child.state == RUNNING:
                try:
                    modes = child.ref.proxy().mode_status().get(timeout=2)
                except (pykka.Timeout, pykka.ActorDeadError):
                    modes = {}
            result.append(
                OfferingStatus(
                    name=child.offering.name,
                    uuid=child.uuid,
                    state=child.state,
                    restarts=child.total_restarts,
                    last_error=child.last_error,
                    modes=modes,
                )
            )
        return result

    def healthy(self) -> bool:
        """For `status`: no offering given up. (The watchdog asks only that this answers.)"""
        return all(child.state != FAILED for child in self.children.values())

    def reload(self, config: AgentConfig) -> list[str]:
        """Apply a new config; only offerings whose settings changed are restarted.

        Returns their names at once; each one's new generation starts when its old one has
        stopped."""
        root_changed = _root(config) != _root(self.config)
        self.config, self.policy = config, config.supervision
        wanted = {o.waldur_offering_uuid: o for o in config.offerings}
        restarted = []
        for uuid, child in list(self.children.items()):
            if uuid not in wanted:
                restarted.append(child.offering.name)
                child.removed = True
                if child.ref is None:
                    del self.children[uuid]
                    metrics.offering_removed(child.offering.name)
                self._stop_generation(child)
        for uuid, offering in wanted.items():
            current = self.children.get(uuid)
            if current is not None and current.offering == offering and not root_changed:
                continue
            restarted.append(offering.name)
            if current is None:
                self._start(Child(offering))
            elif current.ref is None:
                self._start(_renewed(current, offering))
            else:
                current.then = offering
                self._stop_generation(current)
        log.info("config reloaded; restarted: %s", ", ".join(restarted) or "none")
        return restarted


def _renewed(child: Child, offering: Offering) -> Child:
    """A fresh record for new settings; generations go on counting, so no late word from an
    old one is taken for the new one's."""
    fresh = Child(offering)
    fresh.generation = child.generation
    return fresh


def _root(config: AgentConfig) -> dict[str, Any]:
    data = msgspec.structs.asdict(config)
    data.pop("offerings")
    return data


def _tag(child: Child) -> dict[str, str]:
    return {"offering": child.offering.name}
