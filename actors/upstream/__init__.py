"""Upstream plugins, run as they are: classes written for `waldur-site-agent` 1.0.7's core.

A plugin subclassing upstream's `waldur_site_agent.backend.backends.BaseBackend` is driven by
this agent's actors through `UpstreamBackend` (backend.py), which hands it what upstream's
processors hand it: `waldur_api_client` models, upstream's `user_context`, a Waldur client for
the hooks that take one, at the points upstream calls them (docs/plugins.md, "Upstream plugins").

Importing this package costs nothing; the adapter's modules import `waldur_api_client` (about
2.5 s of CPU and 110 MiB: docs/benchmarks.md), a price paid only by offerings whose plugin is an
upstream one (tests/upstream_plugins/test_choice.py).
"""

from __future__ import annotations

import importlib
from typing import Any

from waldur_site_agent_actors.config import plugins


def core_problem() -> str | None:
    """Upstream's core imports every installed plugin, of any distribution, into a registry
    (`waldur_site_agent.common.utils`) when its federation plugin loads or a plugin syncs its
    limits: one that cannot be imported would fail each of those, so it is found at start."""
    try:
        importlib.import_module("waldur_site_agent.common.utils")
    except Exception as exc:
        return f"upstream's core imports every installed plugin and fails: {exc}"
    return None


def is_upstream_backend(cls: Any) -> bool:
    return plugins.derives_from_upstream(cls, "BaseBackend")


def is_upstream_usernames(cls: Any) -> bool:
    return plugins.derives_from_upstream(cls, "AbstractUsernameManagementBackend")


def refusals(cls: type, backend_settings: dict[str, Any]) -> list[str]:
    """What an upstream backend class declares that this agent would otherwise ignore."""
    problems = []
    subscribes = getattr(cls, "setup_target_event_subscriptions", None)
    upstream = (plugins.UPSTREAM_CORE, "BaseBackend")
    base = next((k for k in cls.__mro__ if (k.__module__, k.__qualname__) == upstream), cls)
    if backend_settings.get("target_stomp_enabled") and subscribes is not getattr(
        base, "setup_target_event_subscriptions", None
    ):
        problems.append(
            f"{cls.__name__} subscribes to its target's events (target_stomp_enabled), which "
            "this agent does not run for upstream plugins; their orders are polled every order "
            "cycle instead: set target_stomp_enabled to false"
        )
    return problems
