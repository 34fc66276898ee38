"""End dates of a resource and of its project, kept the same on Waldur A and Waldur B.

`end_date_sync_direction` says who wins when they differ: `a_to_b` (A's goes to B), `b_to_a`
(B's comes here), `bidirectional` (upstream's default: whichever changed last, by each side's
`end_date_updated_at`; a side with no such time loses to one with it, and with neither nothing
moves), `disabled`. B is changed here; what A must take is returned, for the core to set.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

import msgspec

from waldur_site_agent_actors.backends.structures import WaldurResource
from waldur_site_agent_actors.backends.waldur.http import TargetError
from waldur_site_agent_actors.backends.waldur.models import Project, Resource
from waldur_site_agent_actors.backends.waldur.target import WaldurB

log = logging.getLogger("backends.WaldurBackend")

Winner = Literal["a", "b"] | None
Unset = msgspec.UnsetType


def winner(
    direction: str,
    a_date: str | None,
    b_date: str | None,
    a_changed: str | None,
    b_changed: str | None,
) -> Winner:
    """Whose end date both sides take, or None when there is nothing to do."""
    if direction == "disabled" or (a_date or None) == (b_date or None):
        return None
    if direction == "a_to_b":
        return "a"
    if direction == "b_to_a":
        return "b"
    a_at, b_at = _moment(a_changed), _moment(b_changed)
    if a_at and b_at:
        return "a" if a_at > b_at else "b" if b_at > a_at else None
    return "a" if a_at else "b" if b_at else None


def resource_end_date(
    b: WaldurB, direction: str, here: WaldurResource, there: Resource
) -> str | Unset | None:
    """The resource's end date A must take (unset: none), after giving B A's if A wins."""
    side = winner(
        direction,
        here.end_date,
        there.end_date,
        here.end_date_updated_at,
        there.end_date_updated_at,
    )
    if side == "a":
        log.info("end date of %s on Waldur B set to A's: %s", there.uuid, here.end_date)
        _quietly(lambda: b.set_resource_end_date(there.uuid, here.end_date), there.uuid)
    elif side == "b":
        log.info("end date of resource %s taken from Waldur B: %s", here.uuid, there.end_date)
        return there.end_date
    return msgspec.UNSET


def project_end_date(
    b: WaldurB, direction: str, here: WaldurResource, there: Project | None
) -> str | Unset | None:
    """The end date A's project must take (unset: none), after giving B's project A's if A
    wins."""
    if there is None:
        return msgspec.UNSET
    side = winner(
        direction,
        here.project_end_date,
        there.end_date,
        here.project_end_date_updated_at,
        there.end_date_updated_at,
    )
    if side == "a":
        log.info(
            "end date of project %s on Waldur B set to A's: %s", there.uuid, here.project_end_date
        )
        _quietly(lambda: b.set_project_end_date(there.uuid, here.project_end_date), there.uuid)
    elif side == "b":
        log.info(
            "end date of project %s taken from Waldur B: %s", here.project_uuid, there.end_date
        )
        return there.end_date
    return msgspec.UNSET


def _quietly(change: Callable[[], None], uuid: str) -> None:
    """B refusing an end date (a date in the past, a permission) is logged, as upstream does:
    it does not fail the resource's sync."""
    try:
        change()
    except TargetError as exc:
        log.warning("end date of %s not set on Waldur B: %s", uuid, exc)


def _moment(value: str | None) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
