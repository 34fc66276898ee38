import logging
import os
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from waldur_site_agent_actors.backends.base import STATE_DIR_VARIABLE
from waldur_site_agent_actors.config.plugins import Candidate

DATA = Path(__file__).parent / "data"


@pytest.fixture(autouse=True)
def own_state_dir_variable():
    """An agent command run in-process names its state directory to its plugins in the
    environment (agent/process.py); put back as it was, or it reaches every later subprocess,
    an installed agent's included. (Only this variable: session fixtures started during a test
    add to PATH on purpose.)"""
    before = os.environ.get(STATE_DIR_VARIABLE)
    yield
    if before is None:
        os.environ.pop(STATE_DIR_VARIABLE, None)
    else:
        os.environ[STATE_DIR_VARIABLE] = before


@pytest.fixture(autouse=True)
def keep_logging():
    """A command run in-process sets logging up for a terminal (a handler on the stream pytest
    captured for that test, closed after it); give pytest its handlers back afterwards, for
    every test: a handler left behind fails on its closed stream when a later test's thread
    logs ("--- Logging error ---" in the output, the line lost)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def data_dir() -> Path:
    return DATA


# `tests.fakes` is named by the fake entry points; make the repository root importable.
ROOT = str(Path(__file__).resolve().parent.parent)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

FAKE_BACKEND = "tests.fakes:FakeBackend"


@pytest.fixture
def fake_plugins(monkeypatch):
    """Entry points without installing anything: `{group: {name: EntryPoint}}`, editable.

    Backends `mycustom` (the seed's example name) and `slurm` and the username plugin `base`
    are registered; a test adds
    schemas with `fake_plugins.add(group, name, "tests.fakes:Thing")`.
    """
    from waldur_site_agent_actors.config import plugins

    real = plugins.installed
    registry = FakeRegistry()
    for name in ("mycustom", "slurm"):
        registry.add(plugins.BACKENDS, name, FAKE_BACKEND)
    # The real `base` username plugin: the default every config names implicitly.
    registry.add(
        plugins.USERNAME_BACKENDS,
        "base",
        "waldur_site_agent_actors.backends.usernames:BaseUsernameBackend",
    )
    real.cache_clear()
    monkeypatch.setattr(plugins, "installed", registry.installed)
    yield registry
    real.cache_clear()


class FakeRegistry:
    """Entry points as `plugins.installed` gives them, by distribution (default `fakes`)."""

    def __init__(self) -> None:
        self.groups: dict[str, dict[str, list[Candidate]]] = {}

    def add(self, group: str, name: str, value: str, distribution: str = "fakes") -> None:
        point = EntryPoint(name, value, group)
        found = self.groups.setdefault(group, {}).setdefault(name, [])
        found[:] = [c for c in found if not c.provides(distribution)]
        found.append(Candidate(point, distribution, "1.0"))
        found.sort(key=lambda c: c.distribution)

    def installed(self, group: str) -> dict[str, tuple[Candidate, ...]]:
        return {name: tuple(found) for name, found in self.groups.get(group, {}).items()}


pytest_plugins = [
    *globals().get("pytest_plugins", []),
    "tests.services.rabbitmq_fixture",
    "tests.services.slurm_fixture",
    "tests.services.quotafs_fixture",
    "tests.services.systemd_fixture",
    "tests.packaging.build_fixture",
    "tests.services.ldap_fixture",
    "tests.services.prometheus_fixture",
]


# The Waldur simulator with its default scenario, and a user driving it; test folders whose
# scenario differs override `sim`.
@pytest.fixture
def sim():
    from waldur_site_agent_actors.simulators.waldur import WaldurSimulator

    with WaldurSimulator(tick_interval=0) as simulator:
        yield simulator


@pytest.fixture
def consumer(sim):
    from waldur_site_agent_actors.simulators.waldur.client import ConsumerClient

    client = ConsumerClient(sim.api_url, sim.staff_token)
    yield client
    client.close()


@pytest.fixture
def world(sim):
    """The scenario's first offering and its projects."""
    summary = sim.summary()
    return summary["offerings"][0], summary["projects"]
