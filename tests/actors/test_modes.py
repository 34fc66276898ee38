"""Which periodic actors an offering runs for the modes asked: `-m event_process` alone runs the
order actor, and the membership actor only when memberships come as events, as upstream's event
process runs its membership processor only then."""

from __future__ import annotations

import pytest

from waldur_site_agent_actors.actors.context import OfferingContext
from waldur_site_agent_actors.actors.timer import Timer
from waldur_site_agent_actors.config import load_mapping


def context(modes: set[str], **offering: object) -> OfferingContext:
    config = load_mapping(
        {
            "offerings": [
                {
                    "name": "hpc",
                    "waldur_api_url": "http://127.0.0.1:1/api/",
                    "waldur_api_token": "t0ken",
                    "waldur_offering_uuid": "c" * 32,
                    "backend_type": "demo",
                    "stomp_enabled": True,
                    **offering,
                }
            ]
        }
    ).config
    return OfferingContext(config.offerings[0], config, Timer(), frozenset(modes))


@pytest.mark.parametrize(
    ("membership_events", "modes", "membership"),
    [
        (None, {"event_process"}, True),  # inherits stomp_enabled: events bring memberships
        (True, {"event_process"}, True),
        (False, {"event_process"}, False),  # left to a membership_sync process
        (False, {"event_process", "membership_sync"}, True),
    ],
)
def test_event_process_runs_memberships_only_when_they_come_as_events(
    membership_events, modes, membership
):
    settings = (
        {} if membership_events is None else {"stomp_membership_sync_enabled": membership_events}
    )
    offering = context(modes, **settings)
    try:
        assert offering.runs("order_process")
        assert offering.runs("membership_sync") is membership
        assert not offering.runs("report")
    finally:
        offering.timer.stop()


def test_without_events_only_the_modes_asked_run():
    offering = context({"membership_sync"}, stomp_enabled=False)
    try:
        assert offering.runs("membership_sync")
        assert not offering.runs("order_process")
    finally:
        offering.timer.stop()
