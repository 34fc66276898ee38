"""The supervisor: one child per offering, restarted one_for_one with backoff and an intensity.

OTP's rule: more than `max_restarts` restarts within `within_seconds` and the child is given up
(FAILED here, supervisord's FATAL); every other offering keeps running.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Callable
from typing import Any

import msgspec
import pykka

from waldur_site_agent_actors.actors.messages import OfferingDied, RestartOffering
from waldur_site_agent_actors.actors.status import OfferingStatus
from waldur_site_agent_actors.actors.timer import Timer
from waldur_site_agent_actors.config.model import AgentConfig, Offering, Supervision

log = logging.getLogger("actors.supervisor")

StartChild = Callable[[Offering, int, pykka.ActorRef[Any]], pykka.ActorRef[Any]]
"""Starts an offering actor for (offering, generation, supervisor ref) and returns its ref."""

STARTING, RUNNING, BACKOFF, FAILED = "STARTING", "RUNNING", "BACKOFF", "FAILED"


class Child:
    """The supervisor's record of one offering (its own state, never shared)."""

    def __init__(self, offering: Offering) -> None:
        self.offering = offering
        self.ref: pykka.ActorRef[Any] | None = None
        self.state = STARTING
        self.generation = 0
        self.restarts: collections.deque[float] = collections.deque()
        self.total_restarts = 0
        self.last_error: str | None = None


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
        for child in reversed(list(self.children.values())):
            self._stop_child(child)

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, OfferingDied):
            self._died(message)
        elif isinstance(message, RestartOffering):
            child = self.children.get(message.offering_uuid)
            if child is not None and child.state == BACKOFF:
                self._start(child)
        else:
            return super().on_receive(message)
        return None

    def _start(self, child: Child) -> None:
        uuid = child.offering.waldur_offering_uuid
        self.children[uuid] = child
        child.generation += 1
        child.state = STARTING
        try:
            child.ref = self.start_child(child.offering, child.generation, self.actor_ref)
        except Exception as exc:  # a failing start is a death like any other
            log.exception("failed to start", extra=_tag(child))
            self._died(
                OfferingDied(offering_uuid=uuid, error=_describe(exc), generation=child.generation)
            )
            return
        child.state = RUNNING
        log.info("running (generation %d)", child.generation, extra=_tag(child))

    def _died(self, message: OfferingDied) -> None:
        child = self.children.get(message.offering_uuid)
        if child is None or message.generation != child.generation or child.state == FAILED:
            return  # a late report from an actor we already replaced
        self._stop_child(child)
        child.last_error = message.error
        now = time.monotonic()
        child.restarts.append(now)
        while child.restarts and now - child.restarts[0] > self.policy.within_seconds:
            child.restarts.popleft()
        if len(child.restarts) > self.policy.max_restarts:
            child.state = FAILED
            log.error(
                "FAILED: %d restarts within %g s; last error: %s (other offerings keep running; "
                "fix the cause, then reload or restart the agent)",
                len(child.restarts) - 1,
                self.policy.within_seconds,
                message.error,
                extra=_tag(child),
            )
            return
        delay = min(
            self.policy.backoff_max_seconds,
            self.policy.backoff_initial_seconds * 2 ** (len(child.restarts) - 1),
        )
        child.state = BACKOFF
        child.total_restarts += 1
        log.warning("died (%s); restarting in %.1f s", message.error, delay, extra=_tag(child))
        self.timer.once(self.actor_ref, RestartOffering(offering_uuid=message.offering_uuid), delay)

    def _stop_child(self, child: Child) -> None:
        if child.ref is not None:
            try:
                child.ref.stop(block=True, timeout=30)
            except pykka.Timeout:
                log.error("did not stop within 30 s", extra=_tag(child))
            child.ref = None

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
                    uuid=child.offering.waldur_offering_uuid,
                    state=child.state,
                    restarts=child.total_restarts,
                    last_error=child.last_error,
                    modes=modes,
                )
            )
        return result

    def healthy(self) -> bool:
        """For the watchdog: every offering is running or on its way back."""
        return all(child.state != FAILED for child in self.children.values())

    def reload(self, config: AgentConfig) -> list[str]:
        """Apply a new config; only offerings whose settings changed are restarted."""
        root_changed = _root(config) != _root(self.config)
        self.config, self.policy = config, config.supervision
        wanted = {o.waldur_offering_uuid: o for o in config.offerings}
        restarted = []
        for uuid, child in list(self.children.items()):
            if uuid not in wanted:
                self._stop_child(child)
                del self.children[uuid]
                restarted.append(child.offering.name)
        for uuid, offering in wanted.items():
            current = self.children.get(uuid)
            if current is not None and current.offering == offering and not root_changed:
                continue
            if current is not None:
                self._stop_child(current)
            self._start(Child(offering))
            restarted.append(offering.name)
        log.info("config reloaded; restarted: %s", ", ".join(restarted) or "none")
        return restarted


def _root(config: AgentConfig) -> dict[str, Any]:
    data = msgspec.structs.asdict(config)
    data.pop("offerings")
    return data


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _tag(child: Child) -> dict[str, str]:
    return {"offering": child.offering.name}
