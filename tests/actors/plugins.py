"""Test plugins for the actor tree, registered by name with the `fake_plugins` fixture."""

from __future__ import annotations

import threading
from typing import Any

import pykka

from tests.fakes import FakeBackend
from waldur_site_agent_actors.actors.backend import BackendActor
from waldur_site_agent_actors.backends.base import UserContext
from waldur_site_agent_actors.backends.exceptions import BackendError
from waldur_site_agent_actors.backends.structures import UsageReport, WaldurResource


class Gated(FakeBackend):
    """Its usage report waits for the test to let it through, one call per `gate.release()`;
    `entered` is released when a call starts waiting. Each instance records how many backend
    actors the registry held while it was being made (its own included). Polls finished remote
    orders once an hour, so the order actor gets a target events actor beside it."""

    gate = threading.Semaphore(0)
    entered = threading.Semaphore(0)
    backend_actors_at_start: list[int] = []
    target_poll_seconds = 3600.0

    def __init__(self, backend_settings: dict[str, Any], backend_components: Any) -> None:
        super().__init__(backend_settings, backend_components)
        Gated.backend_actors_at_start.append(len(pykka.ActorRegistry.get_by_class(BackendActor)))

    @classmethod
    def reset(cls, open_gate: bool) -> None:
        cls.gate = threading.Semaphore(1_000_000 if open_gate else 0)
        cls.entered = threading.Semaphore(0)
        cls.backend_actors_at_start = []

    def _get_usage_report(self, resource_backend_ids: list[str]) -> UsageReport:
        Gated.entered.release()
        Gated.gate.acquire()
        return {}

    def settled_target_orders(self) -> list[str]:
        return []


class BrokenFlags(FakeBackend):
    """A plugin whose flags cannot be read: the actor asking for them at its start dies."""

    @property
    def supports_decreasing_usage(self) -> bool:
        raise RuntimeError("flags unreadable")


class Unreachable(FakeBackend):
    """A plugin whose constructor fails, as one that cannot reach its cluster at start."""

    def __init__(self, backend_settings: dict[str, Any], backend_components: Any) -> None:
        raise RuntimeError("cannot reach the cluster")


class Crashing(FakeBackend):
    """Creating a resource fails: refused in the backend's words (a `BackendError`) when its
    name says `refused`, otherwise with an internal error (a bug, a library's exception). It
    names what it creates itself, so no account name is tried first."""

    def backend_id_candidates(self, waldur_resource: WaldurResource) -> list[str]:
        return []

    def _pre_create_resource(
        self, waldur_resource: WaldurResource, user_context: UserContext | None = None
    ) -> None:
        if "refused" in waldur_resource.name:
            raise BackendError("quota exhausted for this project")
        raise KeyError("internal-detail: /etc/site/secret-path")
