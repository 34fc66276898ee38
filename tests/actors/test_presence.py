"""The presence actor on its own: registration once, retried while Waldur is down, and the
periodic health check with upstream's event-process User-Agent."""

import dataclasses

import msgspec
import pykka
import pytest

from tests.e2e.harness import wait_for
from waldur_site_agent_actors.actors import presence
from waldur_site_agent_actors.actors.context import OfferingContext
from waldur_site_agent_actors.actors.presence import PresenceActor, planned_services
from waldur_site_agent_actors.actors.timer import Timer
from waldur_site_agent_actors.actors.waldur_actor import WaldurActor, api_of
from waldur_site_agent_actors.config.model import AgentConfig, Offering

IDENTITIES = "/api/marketplace-site-agent-identities/"


class Parent(pykka.ThreadingActor):
    def __init__(self) -> None:
        super().__init__()
        self.heard: list = []

    def on_receive(self, message):
        self.heard.append(message)


@pytest.fixture
def started(sim, world):
    offering = Offering(
        name="hpc",
        waldur_api_url=sim.api_url,
        waldur_offering_uuid=world[0]["uuid"],
        waldur_api_token=sim.provider_token,
        backend_type="demo",
    )
    timer = Timer()
    parent = Parent.start()
    actors = []

    def start(modes, **options):
        context = OfferingContext(
            offering=offering,
            root=AgentConfig(offerings=[offering]),
            timer=timer,
            modes=frozenset(modes),
            version="9.9.9",
        )
        waldur = WaldurActor.start(context, parent)
        actors.extend([waldur, PresenceActor.start(context, api_of(waldur), parent, **options)])
        return context, actors[-1]

    yield start
    for ref in reversed(actors):
        ref.stop()
    parent.stop()
    timer.stop()


def calls(sim, endpoint):
    return [r for r in sim.requests() if r["endpoint"] == endpoint]


def test_asked_again_and_again_the_identity_is_registered_once(sim, started):
    _, ref = started({"report", "event_process"}, health_every=3600)
    uuids = {ref.proxy().identity().get().uuid for _ in range(3)}
    assert len(uuids) == 1
    wait_for(lambda: sim.objects("services"), what="the services")
    assert [r["method"] for r in calls(sim, "POST " + IDENTITIES)] == ["POST"]
    assert calls(sim, "PUT " + IDENTITIES + "{uuid}/") == []


def test_registration_is_tried_again_until_waldur_takes_it(sim, started, monkeypatch):
    monkeypatch.setattr(presence, "RETRY_INITIAL", 0.05)
    # Refused three times (a token given its rights later); each refusal is one try here.
    sim.add_fault(endpoint="GET " + IDENTITIES, error_rate=1.0, status=403, times=3)
    _, ref = started({"report"})
    identity = wait_for(lambda: sim.objects("identities"), what="the identity", timeout=60)
    assert [s["name"] for s in sim.objects("services", identity=identity[0]["uuid"])] == ["report"]
    assert ref.is_alive()
    assert [r["status"] for r in calls(sim, "GET " + IDENTITIES)][:3] == [403, 403, 403]


def test_health_checks_repeat_under_the_event_process_user_agent(sim, started, world):
    started({"event_process", "report"}, health_every=0.2)
    wait_for(
        lambda: len(calls(sim, "GET /api/marketplace-orders/")) >= 3,
        what="three health checks",
    )
    statuses = sim.objects("integration_statuses", offering=world[0]["uuid"])
    assert [s["agent_type"] for s in statuses] == ["Event processing"]
    me = calls(sim, "GET /api/users/me/")
    assert len(me) >= 3  # the whole of upstream's check, each time


def test_no_health_check_without_event_processing(sim, started):
    _, ref = started({"order_process", "report", "membership_sync"}, health_every=0.05)
    wait_for(lambda: sim.objects("services"), what="the services")
    ref.stop()
    assert calls(sim, "GET /api/marketplace-orders/") == []
    assert sim.objects("integration_statuses") == []


def test_services_follow_the_modes_run(sim, started):
    context, _ = started({"order_process"}, health_every=3600)
    assert [s.name for s in planned_services(context)] == ["order_process"]
    events = dataclasses.replace(
        context,
        offering=msgspec.structs.replace(context.offering, stomp_enabled=True),
        modes=frozenset({"event_process"}),
    )
    names = [s.name for s in planned_services(events)]
    assert names[0] == "initial-offering-process"
    assert "event_process-order" in names and "event_process-offering_user" in names
