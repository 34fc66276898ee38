"""The backend actor: the only place an offering's plugins are called.

Its mailbox serialises every CLI/API call of the offering, so no two `sacctmgr` calls of one
offering ever run at once, whichever mode asked. The other children reach the plugins through
this actor's proxy (`backend.order.create_resource_with_id(...)` returns a future).
"""

from __future__ import annotations

from typing import Any, TypeVar

import pykka

from waldur_site_agent_actors.actors.child import OfferingChild
from waldur_site_agent_actors.actors.context import OfferingContext
from waldur_site_agent_actors.actors.plugins import make_backend, make_usernames

ROLES = ("order", "report", "membership")
T = TypeVar("T")


class BackendActor(OfferingChild):
    def __init__(self, context: OfferingContext, parent: pykka.ActorRef[Any]) -> None:
        super().__init__(context, parent, "backend")
        self.root = context.root
        # This agent's BaseBackend, or an upstream plugin's UpstreamBackend (actors/upstream).
        self.order: Any = None
        self.report: Any = None
        self.membership: Any = None
        self.usernames: Any = None
        self.start_error: Exception | None = None

    def setup(self) -> None:
        # A plugin that cannot be made (refused, broken settings) is the offering's start
        # failure, told to the offering by its first question (`ping`), not lost in a traceback.
        try:
            self._make_plugins()
        except Exception as exc:
            self.start_error = exc

    def _make_plugins(self) -> None:
        # One instance per distinct plugin name: roles served by the same plugin share it.
        self.usernames = exposed_or_none(make_usernames(self.offering))
        instances: dict[str, Any] = {}
        for role in ROLES:
            name = self.offering.backend_for(role)  # type: ignore[arg-type]
            if not name:
                continue
            if name not in instances:
                instances[name] = make_backend(name, self.offering, self.root)
            setattr(self, role, exposed(instances[name]))

    def has_usernames(self) -> bool:
        return self.usernames is not None

    def ping(self) -> dict[str, bool]:
        """Each distinct plugin's ping; exceptions propagate to the asking offering actor."""
        if self.start_error is not None:
            raise self.start_error
        seen: dict[int, bool] = {}
        result = {}
        for role in ROLES:
            backend = getattr(self, role)
            if backend is None:
                continue
            if id(backend) not in seen:
                seen[id(backend)] = bool(backend.ping(raise_exception=False))
            result[role] = seen[id(backend)]
        return result

    def capabilities(self, role: str) -> dict[str, Any]:
        """Class flags the core reads off a plugin."""
        backend = getattr(self, role)
        return {
            "supports_decreasing_usage": bool(getattr(backend, "supports_decreasing_usage", False)),
            "supports_async_orders": bool(getattr(backend, "supports_async_orders", False)),
            "supports_cycle_preflight": bool(getattr(backend, "supports_cycle_preflight", False)),
            # An upstream plugin: membership runs upstream's per-resource sequence.
            "upstream": bool(getattr(backend, "upstream", False)),
            "handled_resource_states": tuple(
                getattr(backend, "handled_resource_states", ("OK", "Erred"))
            ),
            "backend_type": getattr(backend, "backend_type", ""),
            # Duck-typed, as upstream's optional flags: the federation plugin declares them.
            "reconciles_team": bool(getattr(backend, "reconciles_team", False)),
            "target_events": bool(getattr(backend, "target_events_enabled", False)),
            "target_poll_seconds": getattr(backend, "target_poll_seconds", None),
            "prepaid": bool(backend is not None and backend.has_prepaid_components()),
            "consented_team_only": bool(getattr(backend, "fetch_consented_users_only", False)),
            "shared_project_membership": bool(getattr(backend, "shared_project_membership", False)),
            "requires_source_project": bool(getattr(backend, "requires_source_project", False)),
            "supports_resource_api_keys": bool(
                getattr(backend, "supports_resource_api_keys", False)
            ),
        }

    def cycle_started(self, role: str) -> None:
        """A sweep (or one event) of `role` begins. The upstream adapter reads its Waldur views
        afresh for it, as upstream's processors do once per cycle; native plugins need nothing."""
        started = getattr(getattr(self, role), "cycle_started", None)
        if started is not None:
            started(role)

    def set_service_provider(self, uuid: str) -> None:
        for role in ROLES:
            backend = getattr(self, role)
            if backend is not None:
                backend.service_provider_uuid = uuid

    def set_offering_details(self, partitions: list[str], plugin_options: dict[str, Any]) -> None:
        """The offering's partitions and plugin options as Waldur has them now, for the plugins
        that act on them (SLURM: partitions of associations, QoS enforcement, account names)."""
        for role in ROLES:
            backend = getattr(self, role)
            if hasattr(backend, "set_offering_details"):
                backend.set_offering_details(list(partitions), dict(plugin_options))


def exposed_or_none(plugin: T | None) -> T | None:
    return None if plugin is None else exposed(plugin)


def exposed(plugin: T) -> T:
    """Make a plugin's methods callable through this actor's proxy (`proxy.order.ping()`).

    `pykka.traversable()` refuses classes that declare `__slots__`, and `abc.ABC` declares an
    empty one, so the marker pykka looks for is set directly on the instance.
    """
    plugin.pykka_traversable = True  # type: ignore[attr-defined]
    return plugin
