"""Supervision: one offering's crashes never stop another; a generation restarts only once the
old one has stopped; past the intensity it is FAILED, and retried later, never escalated.

The supervisor's timer is a manual one here: a backoff or a deadline passes when the test says
so, so no assertion depends on how fast this machine is.
"""

import contextlib
import threading
import time

import pykka
import pytest

from waldur_site_agent_actors.actors.messages import (
    OfferingDied,
    OfferingStopped,
    RestartOffering,
    StopOverdue,
)
from waldur_site_agent_actors.actors.supervisor import (
    BACKOFF,
    FAILED,
    RUNNING,
    STOPPING,
    Supervisor,
    stop_overdue_seconds,
)
from waldur_site_agent_actors.config import load_mapping


def uuid_of(name):
    return name.encode().hex().ljust(32, "0")


def make_config(*names, max_restarts=2, within=60.0, settings=None):
    offerings = [
        {
            "name": name,
            "waldur_api_url": "http://127.0.0.1:1/api/",
            "waldur_api_token": "t0ken",
            "waldur_offering_uuid": uuid_of(name),
            "backend_type": "demo",
            "backend_settings": (settings or {}).get(name, {}),
        }
        for name in names
    ]
    return load_mapping(
        {
            "offerings": offerings,
            "supervision": {
                "max_restarts": max_restarts,
                "within_seconds": within,
                "backoff_initial_seconds": 0.05,
                "backoff_max_seconds": 0.2,
            },
        }
    ).config


class ManualTimer:
    """What the supervisor schedules, told only when the test fires it."""

    def __init__(self):
        self.lock = threading.Lock()
        self.entries = []

    def once(self, ref, message, delay):
        with self.lock:
            self.entries.append((ref, message, delay))
            return len(self.entries)

    def cancel(self, handle):
        return False

    def scheduled(self, kind):
        with self.lock:
            return [(message, delay) for _, message, delay in self.entries if type(message) is kind]

    def fire(self, kind):
        with self.lock:
            due = [e for e in self.entries if type(e[1]) is kind]
            self.entries = [e for e in self.entries if type(e[1]) is not kind]
        for ref, message, _ in due:
            ref.tell(message)


class Worker(pykka.ThreadingActor):
    """A stand-in offering actor keeping the offering's side of the contract: it reports its
    death, and says `OfferingStopped` once it has stopped (after `hold` is set, if given)."""

    def __init__(self, offering, generation, supervisor, log, hold):
        super().__init__()
        self.offering, self.generation, self.supervisor = offering, generation, supervisor
        self.log, self.hold, self.error = log, hold, None

    def on_start(self):
        self.log.append(("start", self.offering.name, self.generation))

    def crash(self, why):
        self.error = why
        self.supervisor.tell(
            OfferingDied(
                offering_uuid=self.offering.waldur_offering_uuid,
                error=why,
                generation=self.generation,
            )
        )

    def on_stop(self):
        self.hold.wait()
        self.log.append(("stopped", self.offering.name, self.generation))
        with contextlib.suppress(pykka.ActorDeadError):  # the supervisor stopped first
            self.supervisor.tell(
                OfferingStopped(
                    offering_uuid=self.offering.waldur_offering_uuid,
                    generation=self.generation,
                    error=self.error,
                )
            )

    def mode_status(self):
        return {}


@pytest.fixture
def timer():
    return ManualTimer()


@pytest.fixture
def hold():
    """Set: offerings stop at once. Cleared by a test: they hang in their stop until set."""
    event = threading.Event()
    event.set()
    yield event
    event.set()


@pytest.fixture
def supervise(timer, hold):
    started = []

    def start(config, log):
        def start_child(offering, generation, supervisor):
            return Worker.start(offering, generation, supervisor, log, hold)

        ref = Supervisor.start(config, start_child, timer)
        started.append(ref)
        return ref

    yield start
    for ref in started:
        ref.stop()


def status(supervisor):
    return {s.name: s for s in supervisor.proxy().status().get(timeout=5)}


def states(supervisor):
    return {name: s.state for name, s in status(supervisor).items()}


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def crash(supervisor, name, why="backend exploded"):
    for child in supervisor.proxy().children.get(timeout=5).values():
        if child.offering.name == name and child.ref is not None:
            child.ref.proxy().crash(why).get(timeout=5)
            return
    raise AssertionError(f"{name} is not running")


def test_crashed_offering_restarts_and_the_other_keeps_running(supervise, timer):
    log = []
    sup = supervise(make_config("hpc", "storage"), log)
    assert states(sup) == {"hpc": RUNNING, "storage": RUNNING}
    crash(sup, "hpc")
    assert wait_for(lambda: states(sup)["hpc"] == BACKOFF)
    timer.fire(RestartOffering)
    assert wait_for(lambda: ("start", "hpc", 2) in log)
    assert states(sup) == {"hpc": RUNNING, "storage": RUNNING}
    assert [e for e in log if e[1] == "storage"] == [("start", "storage", 1)]
    assert status(sup)["hpc"].restarts == 1
    assert status(sup)["hpc"].last_error == "backend exploded"


def test_no_new_generation_before_the_old_one_stopped(supervise, timer, hold):
    log = []
    sup = supervise(make_config("hpc"), log)
    hold.clear()  # the generation hangs in its stop, as with a plugin call that never returns
    crash(sup, "hpc")
    assert wait_for(lambda: states(sup)["hpc"] == STOPPING)
    assert timer.scheduled(RestartOffering) == []
    [(_, delay)] = timer.scheduled(StopOverdue)
    assert delay == stop_overdue_seconds(make_config("hpc"))
    timer.fire(StopOverdue)
    assert states(sup)["hpc"] == STOPPING  # past the deadline: visible, and never given a twin
    assert ("start", "hpc", 2) not in log
    hold.set()
    assert wait_for(lambda: states(sup)["hpc"] == BACKOFF)
    timer.fire(RestartOffering)
    assert wait_for(lambda: ("start", "hpc", 2) in log)
    assert log.index(("stopped", "hpc", 1)) < log.index(("start", "hpc", 2))


def test_backoff_grows_up_to_its_cap(supervise, timer):
    log = []
    sup = supervise(make_config("hpc", max_restarts=5), log)
    delays = []
    for generation in (1, 2, 3, 4):
        crash(sup, "hpc")
        assert wait_for(lambda: states(sup)["hpc"] == BACKOFF)
        [(_, delay)] = timer.scheduled(RestartOffering)
        delays.append(delay)
        timer.fire(RestartOffering)
        assert wait_for(lambda g=generation: ("start", "hpc", g + 1) in log)
    assert delays == [0.05, 0.1, 0.2, 0.2]


def test_past_the_intensity_failed_retried_later_and_never_unhealthy_for_the_others(
    supervise, timer
):
    log = []
    sup = supervise(make_config("hpc", "storage", max_restarts=2, within=60.0), log)
    for generation in (1, 2, 3):
        assert wait_for(lambda g=generation: ("start", "hpc", g) in log)
        crash(sup, "hpc")
        assert wait_for(lambda: states(sup)["hpc"] in (BACKOFF, FAILED))
        if generation < 3:
            timer.fire(RestartOffering)
    assert states(sup) == {"hpc": FAILED, "storage": RUNNING}
    assert sup.proxy().healthy().get(timeout=5) is False
    [(_, delay)] = timer.scheduled(RestartOffering)
    assert delay == 60.0  # given up for a window, then tried again
    timer.fire(RestartOffering)
    assert wait_for(lambda: ("start", "hpc", 4) in log)
    assert states(sup)["hpc"] == RUNNING
    crash(sup, "hpc")  # the retry dies at once: FAILED again, the wait doubled
    assert wait_for(lambda: states(sup)["hpc"] == FAILED)
    [(_, delay)] = timer.scheduled(RestartOffering)
    assert delay == 120.0
    assert [e for e in log if e[1] == "storage"] == [("start", "storage", 1)]


def test_late_words_of_a_replaced_generation_are_ignored(supervise, timer):
    log = []
    sup = supervise(make_config("hpc"), log)
    crash(sup, "hpc")
    assert wait_for(lambda: states(sup)["hpc"] == BACKOFF)
    timer.fire(RestartOffering)
    assert wait_for(lambda: ("start", "hpc", 2) in log)
    uuid = uuid_of("hpc")
    sup.tell(OfferingDied(offering_uuid=uuid, error="old", generation=1))
    sup.tell(OfferingStopped(offering_uuid=uuid, generation=1, error="old"))
    sup.tell(RestartOffering(offering_uuid=uuid, generation=1))
    assert states(sup)["hpc"] == RUNNING  # asked after the tells: they were handled first
    assert status(sup)["hpc"].last_error == "backend exploded"
    assert ("start", "hpc", 3) not in log


def test_reload_restarts_only_changed_offerings_once_stopped(supervise, hold):
    log = []
    sup = supervise(make_config("hpc", "storage"), log)
    hold.clear()
    changed = make_config("hpc", "storage", settings={"hpc": {"usage_per_second": 5}})
    assert sup.proxy().reload(changed).get(timeout=10) == ["hpc"]
    assert states(sup)["hpc"] == STOPPING
    assert ("start", "hpc", 2) not in log
    hold.set()
    assert wait_for(lambda: ("start", "hpc", 2) in log)
    assert wait_for(lambda: states(sup)["hpc"] == RUNNING)
    assert [e for e in log if e[1] == "storage"] == [("start", "storage", 1)]


def test_reload_removes_an_offering_once_it_stopped(supervise):
    log = []
    sup = supervise(make_config("hpc", "storage"), log)
    assert sup.proxy().reload(make_config("storage")).get(timeout=10) == ["hpc"]
    assert wait_for(lambda: "hpc" not in states(sup))
    assert ("stopped", "hpc", 1) in log
    assert states(sup) == {"storage": RUNNING}


def test_stopping_the_supervisor_waits_for_every_offering(supervise, timer):
    log = []
    sup = supervise(make_config("hpc", "storage"), log)
    crash(sup, "hpc")  # one already stopping on its own, one running
    sup.stop(block=True, timeout=10)
    assert {e for e in log if e[0] == "stopped"} == {
        ("stopped", "hpc", 1),
        ("stopped", "storage", 1),
    }
