"""Scheduling without pile-up: one tick at a time per mode actor, whatever is slow, and a burst
of events handled by one sync."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pykka
import pytest

from waldur_site_agent_actors.actors import messages as m
from waldur_site_agent_actors.actors.child import ModeActor
from waldur_site_agent_actors.actors.context import OfferingContext
from waldur_site_agent_actors.actors.membership import MembershipActor
from waldur_site_agent_actors.actors.timer import Timer
from waldur_site_agent_actors.actors.waldur.models import Resource
from waldur_site_agent_actors.config import load_mapping

PROJECT, OTHER = "a" * 32, "b" * 32


class Recorder(pykka.ThreadingActor):
    """Stands in for the offering (cycle reports) and the STOMP actor (acknowledgements)."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[Any] = []

    def on_receive(self, message: Any) -> None:
        self.messages.append(message)

    def acknowledged(self) -> list[str]:
        return [x.message_id for x in self.messages if isinstance(x, m.EventHandled)]


@pytest.fixture
def context() -> Iterator[OfferingContext]:
    config = load_mapping(
        {
            "offerings": [
                {
                    "name": "hpc",
                    "waldur_api_url": "http://127.0.0.1:1/api/",
                    "waldur_api_token": "t0ken",
                    "waldur_offering_uuid": "c" * 32,
                    "backend_type": "demo",
                }
            ]
        }
    ).config
    timer = Timer()
    yield OfferingContext(config.offerings[0], config, timer, frozenset({"report"}))
    timer.stop()


@pytest.fixture
def recorder() -> Iterator[pykka.ActorRef[Recorder]]:
    ref = Recorder.start()
    yield ref
    ref.stop()


def ticks_in(inbox: Any, kind: type) -> int:
    return sum(isinstance(envelope.message, kind) for envelope in list(inbox.queue))


class Slow(ModeActor):
    """A sweep many times longer than its period, counting the ticks queued behind it."""

    mode = "report"
    tick = m.UsageTick()

    def __init__(self, *args: Any, done: threading.Event) -> None:
        super().__init__(*args)
        self.pending: list[int] = []
        self.done = done

    def cycle(self) -> None:
        self.pending.append(ticks_in(self.actor_inbox, m.UsageTick))
        time.sleep(0.02)  # 20 periods
        if len(self.pending) == 10:
            self.done.set()

    def queued(self) -> list[int]:
        return self.pending


def test_a_slow_sweep_never_has_more_than_one_tick_queued(context, recorder):
    done = threading.Event()
    slow = Slow.start(context, None, None, recorder, 0.001, done=done)
    try:
        while not done.is_set():
            slow.tell(m.SweepRequested())  # as an offering does after each broker reconnect
            done.wait(0.005)
        pending = slow.proxy().queued().get(timeout=10)
        assert len(pending) >= 10
        assert max(pending) <= 1, pending
    finally:
        slow.stop()


def done(value: Any = None) -> pykka.Future[Any]:
    future: pykka.Future[Any] = pykka.ThreadingFuture()
    future.set(value)
    return future


BACKEND = SimpleNamespace(cycle_started=lambda role: done())  # all a sync asks it here


class NoUsernames:
    def sync(self, waldur: Any) -> int:
        return 0


class Counting(MembershipActor):
    """The membership actor's event handling, with Waldur and the backend replaced by two
    resources: one in the project the events name, one elsewhere."""

    def __init__(self, *args: Any, release: threading.Event) -> None:
        super().__init__(*args)
        self.release = release
        self.syncs = 0
        self.synced: list[str] = []

    def prepare(self) -> None:
        self.states = ("OK",)
        self.reconciles_team = False
        self.upstream = False
        self.usernames = NoUsernames()

    def cycle(self) -> None:
        """No periodic sweep here: only the events' syncs are counted."""

    def sync_dirty(self) -> None:
        self.syncs += 1
        self.release.wait(10)  # the first sync holds until the whole burst has arrived
        super().sync_dirty()

    def _resources(self) -> list[Resource]:
        return [
            Resource(uuid="1" * 32, backend_id="mine", project_uuid=PROJECT),
            Resource(uuid="2" * 32, backend_id="theirs", project_uuid=OTHER),
        ]

    def _project_accounts(self) -> dict[str, set[str]]:
        return {}

    def _round(self) -> Any:
        """What a sync hands the plugins first (the offering's details): nothing here."""

    def sync_resource(self, resource: Resource, accounts: dict[str, set[str]], round_: Any) -> bool:
        self.synced.append(resource.backend_id or "")
        return True

    def counts(self) -> tuple[int, list[str]]:
        return self.syncs, self.synced


def test_a_burst_of_role_events_for_one_project_is_one_or_two_syncs(context, recorder):
    release = threading.Event()
    actor = Counting.start(context, BACKEND, None, recorder, 3600.0, release=release)
    try:
        for n in range(100):
            ack = m.Acknowledgement(stomp=recorder, message_id=str(n), subscription="s")
            actor.tell(m.RoleChanged(project_uuid=PROJECT, user_uuid=f"{n:032x}", ack=ack))
        release.set()
        deadline = time.monotonic() + 10
        while len(recorder.proxy().acknowledged().get(timeout=5)) < 100:
            assert time.monotonic() < deadline, "not every event was acknowledged"
            time.sleep(0.01)
        syncs, synced = actor.proxy().counts().get(timeout=5)
        assert 1 <= syncs <= 2
        assert set(synced) == {"mine"} and len(synced) == syncs
        assert sorted(recorder.proxy().acknowledged().get(timeout=5), key=int) == [
            str(n) for n in range(100)
        ]
    finally:
        release.set()
        actor.stop()
