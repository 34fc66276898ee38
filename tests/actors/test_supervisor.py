"""Supervision: one offering's crashes never stop another; intensity ends in FAILED."""

import time

import pykka
import pytest

from waldur_site_agent_actors.actors.messages import OfferingDied
from waldur_site_agent_actors.actors.supervisor import BACKOFF, FAILED, RUNNING, Supervisor
from waldur_site_agent_actors.actors.timer import Timer
from waldur_site_agent_actors.config import load_mapping


def make_config(*names, max_restarts=2, within=60.0):
    offerings = [
        {
            "name": name,
            "waldur_api_url": "http://127.0.0.1:1/api/",
            "waldur_api_token": "t0ken",
            "waldur_offering_uuid": f"{i:032x}",
            "backend_type": "demo",
        }
        for i, name in enumerate(names, start=1)
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


class Worker(pykka.ThreadingActor):
    """A stand-in offering actor that can be told to die the way a real one reports death."""

    def __init__(self, offering, generation, supervisor, log):
        super().__init__()
        self.offering, self.generation, self.supervisor, self.log = (
            offering,
            generation,
            supervisor,
            log,
        )

    def on_start(self):
        self.log.append(("start", self.offering.name, self.generation))

    def crash(self, why):
        self.supervisor.tell(
            OfferingDied(
                offering_uuid=self.offering.waldur_offering_uuid,
                error=why,
                generation=self.generation,
            )
        )

    def mode_status(self):
        return {}


@pytest.fixture
def timer():
    t = Timer()
    yield t
    t.stop()


def start(config, timer, log):
    def start_child(offering, generation, supervisor):
        return Worker.start(offering, generation, supervisor, log)

    return Supervisor.start(config, start_child, timer)


def states(supervisor):
    return {s.name: s.state for s in supervisor.proxy().status().get(timeout=5)}


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def crash(supervisor, name):
    child = supervisor.proxy().children.get(timeout=5)
    for c in child.values():
        if c.offering.name == name and c.ref is not None:
            c.ref.proxy().crash("backend exploded").get(timeout=5)
            return


def test_crashed_offering_restarts_and_the_other_keeps_running(timer):
    log = []
    sup = start(make_config("hpc", "storage"), timer, log)
    try:
        assert wait_for(lambda: states(sup) == {"hpc": RUNNING, "storage": RUNNING})
        crash(sup, "hpc")
        assert wait_for(lambda: ("start", "hpc", 2) in log)
        assert wait_for(lambda: states(sup)["hpc"] == RUNNING)
        assert [e for e in log if e[1] == "storage"] == [("start", "storage", 1)]
        status = {s.name: s for s in sup.proxy().status().get(timeout=5)}
        assert status["hpc"].restarts == 1
        assert status["hpc"].last_error == "backend exploded"
    finally:
        sup.stop()


def test_too_many_restarts_mark_failed_while_others_run(timer):
    log = []
    sup = start(make_config("hpc", "storage", max_restarts=2), timer, log)
    try:
        for generation in (1, 2, 3):
            assert wait_for(lambda g=generation: ("start", "hpc", g) in log)
            assert wait_for(lambda: states(sup)["hpc"] == RUNNING)
            crash(sup, "hpc")
        assert wait_for(lambda: states(sup)["hpc"] == FAILED)
        time.sleep(0.5)
        assert ("start", "hpc", 4) not in log
        assert states(sup)["storage"] == RUNNING
        assert sup.proxy().healthy().get(timeout=5) is False
    finally:
        sup.stop()


def test_backoff_grows(timer):
    log = []
    sup = start(make_config("hpc", max_restarts=5), timer, log)
    try:
        assert wait_for(lambda: ("start", "hpc", 1) in log)
        crash(sup, "hpc")
        assert states(sup)["hpc"] in (BACKOFF, RUNNING)
        assert wait_for(lambda: ("start", "hpc", 2) in log)
    finally:
        sup.stop()


def test_late_death_report_of_a_replaced_child_is_ignored(timer):
    log = []
    sup = start(make_config("hpc"), timer, log)
    try:
        assert wait_for(lambda: ("start", "hpc", 1) in log)
        crash(sup, "hpc")
        assert wait_for(lambda: ("start", "hpc", 2) in log)
        sup.tell(OfferingDied(offering_uuid=f"{1:032x}", error="old", generation=1))
        time.sleep(0.3)
        assert ("start", "hpc", 3) not in log
    finally:
        sup.stop()


def test_reload_restarts_only_changed_offerings(timer):
    log = []
    config = make_config("hpc", "storage")
    sup = start(config, timer, log)
    try:
        assert wait_for(lambda: len(log) == 2)
        raw = {
            "offerings": [
                {
                    "name": "hpc",
                    "waldur_api_url": "http://127.0.0.1:1/api/",
                    "waldur_api_token": "t0ken",
                    "waldur_offering_uuid": f"{1:032x}",
                    "backend_type": "demo",
                    "backend_settings": {"usage_per_second": 5},
                },
                {
                    "name": "storage",
                    "waldur_api_url": "http://127.0.0.1:1/api/",
                    "waldur_api_token": "t0ken",
                    "waldur_offering_uuid": f"{2:032x}",
                    "backend_type": "demo",
                },
            ],
            "supervision": {
                "max_restarts": 2,
                "within_seconds": 60.0,
                "backoff_initial_seconds": 0.05,
                "backoff_max_seconds": 0.2,
            },
        }
        restarted = sup.proxy().reload(load_mapping(raw).config).get(timeout=10)
        assert restarted == ["hpc"]
        assert ("start", "hpc", 1) in log and ("start", "storage", 1) in log
        assert sum(1 for e in log if e[1] == "hpc") == 2
        assert sum(1 for e in log if e[1] == "storage") == 1
    finally:
        sup.stop()
