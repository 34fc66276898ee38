"""What every actor of one offering generation is given at start: read-only, never mutated after.

The one signal in it, `stopping`, belongs to this generation: the offering actor sets it first
when it stops (a crash, a reload, the process stopping), and everything under it reads it: sweeps
end between two items, a Waldur call gives up its retries, a wait on the backend returns.
A new generation gets a new context, so a new, unset signal.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Literal

from waldur_site_agent_actors.actors.timer import Timer
from waldur_site_agent_actors.config.model import AgentConfig, Offering

MINUTE = 60.0
ROLES: dict[str, Literal["order", "report", "membership"]] = {
    "order_process": "order",
    "report": "report",
    "membership_sync": "membership",
}
"""The backend role each periodic mode's actor needs; without a backend for it, it does not run."""


@dataclass(frozen=True)
class OfferingContext:
    offering: Offering
    root: AgentConfig
    timer: Timer
    modes: frozenset[str]
    version: str = "unknown"
    stopping: threading.Event = field(default_factory=threading.Event)
    log_shipper: Any = None  # ref of the process's LogShipper while `log_shipping` is on

    @property
    def events(self) -> bool:
        """Orders (and maybe memberships) arrive as events; polling becomes reconciliation."""
        return "event_process" in self.modes and self.offering.stomp_enabled

    def runs(self, mode: str) -> bool:
        """Upstream's event_process alone handles orders, and memberships when they come as
        events, so with events the order actor runs too, and the membership actor unless the
        offering takes no membership events (`stomp_membership_sync_enabled: false` leaves
        memberships to a membership_sync mode); their periodic sweep is the reconciliation."""
        if mode in self.modes:
            return True
        if mode == "membership_sync":
            return self.events and self.offering.membership_on_stomp
        return self.events and mode == "order_process"

    def serves(self, mode: str) -> bool:
        """This offering runs the periodic actor of `mode`: the mode runs and a backend has its
        role (event_process is decided by its object types, `stomp.object_types`)."""
        return self.runs(mode) and bool(self.offering.backend_for(ROLES[mode]))

    @property
    def order_period(self) -> float:
        if self.events:
            return self.root.reconciliation_period_minutes * MINUTE
        return self.root.order_process_period_minutes * MINUTE

    @property
    def membership_period(self) -> float:
        if self.events and self.offering.membership_on_stomp:
            return self.root.reconciliation_period_minutes * MINUTE
        return self.root.membership_sync_period_minutes * MINUTE

    @property
    def uuid(self) -> str:
        return self.offering.waldur_offering_uuid
