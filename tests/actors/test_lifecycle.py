"""The actor tree's lifecycle, with the real supervisor, offering and children against the Waldur
simulator: a generation restarts only once its backend actor has stopped, and every kind of child
that dies takes its offering through the restart policy, visibly."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pykka
import pytest

from tests.actors.plugins import Gated
from waldur_site_agent_actors.actors.backend import BackendActor
from waldur_site_agent_actors.actors.context import OfferingContext
from waldur_site_agent_actors.actors.membership import MembershipActor
from waldur_site_agent_actors.actors.offering import OfferingActor
from waldur_site_agent_actors.actors.orders import OrderActor
from waldur_site_agent_actors.actors.presence import PresenceActor
from waldur_site_agent_actors.actors.status import OfferingStatus
from waldur_site_agent_actors.actors.stomp import StompActor
from waldur_site_agent_actors.actors.supervisor import RUNNING, STOPPING, Supervisor
from waldur_site_agent_actors.actors.target_events import TargetEventsActor
from waldur_site_agent_actors.actors.timer import Timer
from waldur_site_agent_actors.actors.usage import UsageActor
from waldur_site_agent_actors.actors.waldur_actor import WaldurActor
from waldur_site_agent_actors.config import MODES, AgentConfig, load_mapping, plugins

BACKEND = "tests.actors.plugins:Gated"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def agent_config(sim: Any, backend: str = "gated", **offering: Any) -> AgentConfig:
    return load_mapping(
        {
            "offerings": [
                {
                    "name": "hpc",
                    "waldur_api_url": sim.api_url,
                    "waldur_api_token": sim.provider_token,
                    "waldur_offering_uuid": sim.summary()["offerings"][0]["uuid"],
                    "backend_type": backend,
                    **offering,
                }
            ],
            "supervision": {
                "max_restarts": 100,
                "within_seconds": 300,
                "backoff_initial_seconds": 0.01,
                "backoff_max_seconds": 0.05,
            },
        }
    ).config


class Tree:
    """The service's actor tree without the process around it."""

    def __init__(self, config: AgentConfig) -> None:
        self.timer = Timer()

        def start_offering(
            offering: Any, generation: int, supervisor: pykka.ActorRef[Any]
        ) -> pykka.ActorRef[Any]:
            context = OfferingContext(
                offering=offering, root=config, timer=self.timer, modes=frozenset(MODES)
            )
            return OfferingActor.start(context, supervisor, generation)

        self.supervisor = Supervisor.start(config, start_offering, self.timer)

    def status(self) -> OfferingStatus:
        [status] = self.supervisor.proxy().status().get(timeout=10)
        return status

    def stop(self) -> None:
        self.supervisor.stop(block=True, timeout=60)
        self.timer.stop()


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def only(cls: type[pykka.Actor]) -> pykka.ActorRef[Any]:
    """The one live actor of exactly this class (the registry also lists subclasses)."""
    return wait_for(
        lambda: next(
            (r for r in pykka.ActorRegistry.get_by_class(cls) if r.actor_class is cls), None
        ),
        f"a live {cls.__name__}",
    )


def kill(ref: pykka.ActorRef[Any]) -> None:
    """An unexpected exception in a told message: a call of a method the actor lacks."""
    ref.tell(pykka.messages.ProxyCall(attr_path=("no_such_method",), args=(), kwargs={}))


@pytest.fixture
def tree(sim: Any, fake_plugins: Any) -> Iterator[Callable[..., Tree]]:
    fake_plugins.add(plugins.BACKENDS, "gated", BACKEND)
    fake_plugins.add(plugins.BACKENDS, "unreachable", "tests.actors.plugins:Unreachable")
    fake_plugins.add(plugins.BACKENDS, "brokenflags", "tests.actors.plugins:BrokenFlags")
    started: list[Tree] = []

    def start(**offering: Any) -> Tree:
        started.append(Tree(agent_config(sim, **offering)))
        return started[-1]

    yield start
    Gated.gate.release(1_000_000)  # let any call still waiting return, so the stop is quick
    for running in started:
        running.stop()


def test_never_two_backend_actors_for_one_offering_while_a_plugin_call_blocks(tree):
    Gated.reset(open_gate=False)
    most = [0]
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.is_set():
            most[0] = max(most[0], len(pykka.ActorRegistry.get_by_class(BackendActor)))
            time.sleep(0.0005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    agent = tree()
    # Children whose start asks nothing of the backend: one that does (a mode actor asks its
    # plugin's capabilities) may be queued behind the blocked call, and die only after it.
    victims = [TargetEventsActor, WaldurActor, PresenceActor]
    try:
        for crash in range(1, 21):
            assert Gated.entered.acquire(timeout=30), "the usage report never reached the plugin"
            kill(only(victims[crash % len(victims)]))
            wait_for(lambda: agent.status().state == STOPPING, "the generation stopping")
            # Stuck in the plugin call: the old backend actor is still there, and alone.
            assert len(pykka.ActorRegistry.get_by_class(BackendActor)) == 1
            assert agent.status().state == STOPPING
            Gated.gate.release()  # the plugin call returns: now the generation can stop
            wait_for(
                lambda c=crash: (s := agent.status()).state == RUNNING and s.restarts == c,
                f"generation {crash + 1} running",
            )
    finally:
        sampling.set()
        sampler.join()
    assert most[0] == 1
    # Each backend actor was the only one while its plugins were made.
    assert Gated.backend_actors_at_start == [1] * 21


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        (OrderActor, "order_process"),
        (UsageActor, "report"),
        (MembershipActor, "membership_sync"),
        (StompActor, "event_process"),
        (PresenceActor, "presence"),
        (TargetEventsActor, "target_events"),
        (WaldurActor, "waldur"),
        (BackendActor, "backend"),
    ],
)
def test_every_kind_of_child_that_dies_restarts_its_offering_visibly(tree, kind, name):
    Gated.reset(open_gate=True)
    agent = tree(
        stomp_enabled=True,
        websocket_use_tls=False,
        stomp_ws_host="127.0.0.1",
        stomp_ws_port=closed_port(),  # the event actor lives on, retrying its broker
    )
    first = only(kind)
    kill(first)
    status = wait_for(
        lambda: (s := agent.status()).state == RUNNING and s.restarts == 1 and s,
        "the offering restarted",
    )
    assert status.last_error.startswith(f"{name} died: AttributeError")
    assert only(kind) != first


def test_a_child_dying_in_its_start_restarts_its_offering_visibly(tree):
    Gated.reset(open_gate=True)
    agent = tree(reporting_backend="brokenflags")  # the usage actor reads them at its start
    status = wait_for(lambda: (s := agent.status()).restarts >= 1 and s, "a restart")
    assert status.last_error == "report died: RuntimeError: flags unreadable"


def test_a_plugin_that_cannot_be_made_fails_the_start_visibly(tree):
    agent = tree(backend="unreachable")
    status = wait_for(lambda: (s := agent.status()).restarts >= 1 and s, "a restart")
    assert status.last_error == "start failed: RuntimeError: cannot reach the cluster"
