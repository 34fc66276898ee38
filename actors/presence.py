"""What the agent tells Waldur about itself, per offering: who it is and what runs.

Once per start of the offering (not per cycle): the agent identity `agent-<offering uuid>` with
the version and the installed plugin distributions, then one service per running mode with the
processors (plugins) it runs, under the names upstream's processes register. With event
processing, every 30 minutes the calls upstream's event process makes as a health check, so
Waldur sees an agent alive while no event needed it. The identity is also what the event queue
and log shipping are registered under: the STOMP actor asks for it here.

Registration failing (Waldur down, a token without rights) never stops the offering: it is tried
again later, 5 s doubling to 10 minutes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import pykka

from waldur_site_agent_actors.actors import messages as m
from waldur_site_agent_actors.actors.child import OfferingChild
from waldur_site_agent_actors.actors.context import OfferingContext
from waldur_site_agent_actors.actors.events import MEMBERSHIP_TYPES, ORDER_TYPES
from waldur_site_agent_actors.actors.log_shipping import IdentityRegistered
from waldur_site_agent_actors.actors.stomp import object_types
from waldur_site_agent_actors.actors.waldur.api import WaldurApiProxy
from waldur_site_agent_actors.actors.waldur.client import WaldurError, WaldurUnreachable
from waldur_site_agent_actors.actors.waldur.models import Identity
from waldur_site_agent_actors.config import plugins

HEALTH_CHECK_SECONDS = 30 * 60.0
RETRY_INITIAL, RETRY_MAX = 5.0, 600.0
PROCESSOR_OF_ROLE = {
    "order": "OfferingOrderProcessor",
    "membership": "OfferingMembershipProcessor",
    "report": "OfferingReportProcessor",
}
"""Upstream's processor class per role: the name Waldur lists a service's processors by."""


class RegisterDue(m.Message, frozen=True):
    """Time to (try to) register the identity and the services."""


class HealthCheckDue(m.Message, frozen=True):
    """Time for the periodic health check."""


@dataclass(frozen=True)
class PlannedService:
    name: str
    mode: str
    roles: tuple[str, ...]
    """Backend roles whose processors run in it."""


def planned_services(context: OfferingContext) -> list[PlannedService]:
    """The services this offering runs, named as upstream's processes name theirs: a polling
    mode by its name; with events, `initial-offering-process` for the sweeps of orders and
    memberships, and `event_process-<object type>` for each type the queue receives."""
    offering = context.offering
    order = bool(context.runs("order_process") and offering.backend_for("order"))
    membership = bool(context.runs("membership_sync") and offering.backend_for("membership"))
    membership_events = membership and context.events and offering.membership_on_stomp
    planned = []
    if order and not context.events:
        planned.append(PlannedService("order_process", "order_process", ("order",)))
    if "report" in context.modes and offering.backend_for("report"):
        planned.append(PlannedService("report", "report", ("report",)))
    if membership and not membership_events:
        planned.append(PlannedService("membership_sync", "membership_sync", ("membership",)))
    if context.events and (order or membership_events):
        roles = ("order",) * order + ("membership",) * membership_events
        planned.append(PlannedService("initial-offering-process", "event_process", roles))
        for kind in object_types(context):
            role = "order" if kind in ORDER_TYPES else "membership"
            if kind in ORDER_TYPES or kind in MEMBERSHIP_TYPES:
                planned.append(PlannedService(f"event_process-{kind}", "event_process", (role,)))
    return planned


@cache
def dependencies() -> tuple[tuple[str, str], ...]:
    """(distribution, version) of every installed backend and username plugin, read from
    package metadata without importing them."""
    found: dict[str, str] = {}
    for group in (plugins.BACKENDS, plugins.USERNAME_BACKENDS):
        for candidates in plugins.installed(group).values():
            for candidate in candidates:
                if candidate.distribution:
                    found[candidate.distribution] = candidate.version
    return tuple(sorted(found.items()))


def processor_backend(name: str, pinned: str | None = None) -> tuple[str, str]:
    """`<module>.<Class>` of the plugin the offering runs as `name` (the same-name rule, its
    pin), and its distribution's version."""
    try:
        chosen = plugins.choose(plugins.BACKENDS, name, pinned).chosen
    except (plugins.UnknownPlugin, plugins.UnknownDistribution):
        return name, "unknown"
    module, _, attribute = chosen.point.value.partition(":")
    return f"{module}.{attribute}", chosen.version or "unknown"


class PresenceActor(OfferingChild):
    def __init__(
        self,
        context: OfferingContext,
        waldur: WaldurApiProxy,
        parent: pykka.ActorRef[Any],
        health_every: float = HEALTH_CHECK_SECONDS,
    ) -> None:
        super().__init__(context, parent, "presence")
        self.waldur = waldur  # the offering's Waldur API proxy
        self.health_every = health_every
        self.identity_found: Identity | None = None
        self.services_registered = False
        self.failures = 0

    def setup(self) -> None:
        self.actor_ref.tell(RegisterDue())
        self._health_check_later(0.0)  # the first at start, as upstream's event process does

    def receive(self, message: Any) -> Any:
        if isinstance(message, RegisterDue):
            self._register()
        elif isinstance(message, HealthCheckDue):
            try:
                self._health_check()
            finally:
                self._health_check_later()
        else:
            return super().receive(message)
        return None

    def _health_check_later(self, delay: float | None = None) -> None:
        # Fixed delay: a slow check never queues a second one behind it.
        if "event_process" in self.context.modes:
            later = self.health_every if delay is None else delay
            self.context.timer.once(self.actor_ref, HealthCheckDue(), later)

    def identity(self) -> Identity:
        """The offering's agent identity, registered on first need; raises what Waldur said."""
        if self.identity_found is None:
            waldur = self.waldur
            versions = [{"package": p, "version": v} for p, v in dependencies()]
            found = waldur.agents.ensure_identity(
                self.context.uuid, self.context.version, versions
            ).get()
            self.identity_found = found
            self.log.info("registered as agent identity %s", found.uuid)
            if self.context.log_shipper is not None:
                self.context.log_shipper.tell(
                    IdentityRegistered(offering=self.context.offering, identity_uuid=found.uuid)
                )
        return self.identity_found

    def _register(self) -> None:
        try:
            identity = self.identity()
            if not self.services_registered:
                self._register_services(identity)
                self.services_registered = True
        except WaldurError as exc:
            if exc.status in (404, 405):
                self.log.info("this Waldur has no agent registry (%s): not registered", exc)
                return
            self._retry_later(exc)
        except WaldurUnreachable as exc:
            self._retry_later(exc)

    def _register_services(self, identity: Identity) -> None:
        agents, offering = self.waldur.agents, self.context.offering
        names = []
        for planned in planned_services(self.context):
            service = agents.register_service(identity.uuid, planned.name, planned.mode).get()
            names.append(planned.name)
            if service is None:
                continue
            for role in planned.roles:
                name = offering.backend_for(role)  # type: ignore[arg-type]
                pinned = offering.pinned_distribution(name)
                backend_type, version = processor_backend(name, pinned)
                agents.register_processor(
                    service.uuid, PROCESSOR_OF_ROLE[role], backend_type, version
                ).get()
        self.log.info("services registered in Waldur: %s", ", ".join(names) or "none")

    def _retry_later(self, exc: Exception) -> None:
        self.failures += 1
        delay = min(RETRY_MAX, RETRY_INITIAL * 2 ** (self.failures - 1))
        self.log.warning("cannot register in Waldur (%s); trying again in %.0f s", exc, delay)
        self.context.timer.once(self.actor_ref, RegisterDue(), delay)

    def _health_check(self) -> None:
        user_agent = f"waldur-site-agent-event_process/{self.context.version}"
        try:
            self.waldur.agents.health_check(self.context.uuid, user_agent).get()
        except (WaldurError, WaldurUnreachable) as exc:
            self.log.warning("health check to Waldur failed: %s", exc)
