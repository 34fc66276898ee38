"""The backend actor: the only place an offering's plugins are called.

Its mailbox serialises every CLI/API call of the offering, so no two `sacctmgr` calls of one
offering ever run at once, whichever mode asked. The other children reach the plugins through
this actor's typed proxy, `BackendProxy` (Mopidy's typed proxies): `backend.order` offers the
operations `PluginProxy` declares, each returning a future, and mypy checks every call; the
plugin object itself never leaves this actor.
"""

from __future__ import annotations

from typing import Any, Protocol, cast

import pykka
from pykka.typing import proxy_method

from waldur_site_agent_actors.actors import metrics
from waldur_site_agent_actors.actors.context import OfferingContext
from waldur_site_agent_actors.actors.offering_child import OfferingChild
from waldur_site_agent_actors.actors.plugins import make_backend, make_usernames
from waldur_site_agent_actors.actors.remote import Remote
from waldur_site_agent_actors.backends.base import BaseBackend
from waldur_site_agent_actors.backends.structures import WaldurResource
from waldur_site_agent_actors.backends.usernames import UsernameManagementBackend

ROLES = ("order", "report", "membership")


class TeamMirroring(Protocol):
    """What a plugin that mirrors whole teams adds (`reconciles_team`: the federation)."""

    def sync_resource_team(
        self, resource_backend_id: str, team: list[dict[str, Any]], add_missing: bool = True
    ) -> tuple[list[str], list[str]]: ...


class RemoteOrders(Protocol):
    """What a plugin whose orders finish on another system adds (`target_poll_seconds`)."""

    def settled_target_orders(self) -> list[str]: ...


class UpstreamMembership(Protocol):
    """What an upstream plugin's adapter adds: upstream's own sequence for one resource."""

    def sync_resource(self, resource: WaldurResource) -> bool: ...


class PluginProxy:
    """One role's plugin as the other actors reach it: these operations and nothing else.

    A typing of the proxy, never instantiated; `Operations` binds exactly these names. An
    operation the core starts to use is declared here first (mypy says so).
    """

    run_preflight = proxy_method(BaseBackend.run_preflight)
    evaluate_pending_order = proxy_method(BaseBackend.evaluate_pending_order)
    check_pending_order = proxy_method(BaseBackend.check_pending_order)
    backend_id_candidates = proxy_method(BaseBackend.backend_id_candidates)
    claim = proxy_method(BaseBackend.claim)
    pull_resource = proxy_method(BaseBackend.pull_resource)
    recreate_missing_resource = proxy_method(BaseBackend.recreate_missing_resource)
    collect_limits = proxy_method(BaseBackend.collect_limits)
    create_resource_with_id = proxy_method(BaseBackend.create_resource_with_id)
    set_resource_limits = proxy_method(BaseBackend.set_resource_limits)
    apply_resource_limits = proxy_method(BaseBackend.apply_resource_limits)
    has_prepaid_components = proxy_method(BaseBackend.has_prepaid_components)
    sync_resource_project = proxy_method(BaseBackend.sync_resource_project)
    waldur_updates = proxy_method(BaseBackend.waldur_updates)
    assigned_usernames = proxy_method(BaseBackend.assigned_usernames)
    set_resource_options = proxy_method(BaseBackend.set_resource_options)
    generate_resource_key = proxy_method(BaseBackend.generate_resource_key)
    rotate_resource_key = proxy_method(BaseBackend.rotate_resource_key)
    prune_unknown_resource_keys = proxy_method(BaseBackend.prune_unknown_resource_keys)
    key_bearing_metadata = proxy_method(BaseBackend.key_bearing_metadata)
    importable_resources = proxy_method(BaseBackend.importable_resources)
    apply_periodic_settings = proxy_method(BaseBackend.apply_periodic_settings)
    delete_resource = proxy_method(BaseBackend.delete_resource)
    pause_resource = proxy_method(BaseBackend.pause_resource)
    downscale_resource = proxy_method(BaseBackend.downscale_resource)
    restore_resource = proxy_method(BaseBackend.restore_resource)
    get_resource_metadata = proxy_method(BaseBackend.get_resource_metadata)
    add_users_to_resource = proxy_method(BaseBackend.add_users_to_resource)
    remove_users_from_resource = proxy_method(BaseBackend.remove_users_from_resource)
    process_existing_users = proxy_method(BaseBackend.process_existing_users)
    membership_sync_states = proxy_method(BaseBackend.membership_sync_states)
    get_resource_user_limits = proxy_method(BaseBackend.get_resource_user_limits)
    set_resource_user_limits = proxy_method(BaseBackend.set_resource_user_limits)
    get_usage_report = proxy_method(BaseBackend.get_usage_report)
    get_usage_report_for_period = proxy_method(BaseBackend.get_usage_report_for_period)
    setup_target_event_subscriptions = proxy_method(BaseBackend.setup_target_event_subscriptions)
    sync_resource_team = proxy_method(TeamMirroring.sync_resource_team)
    settled_target_orders = proxy_method(RemoteOrders.settled_target_orders)
    sync_resource = proxy_method(UpstreamMembership.sync_resource)


class UsernamesProxy:
    """The username plugin as the membership actor reaches it."""

    get_username = proxy_method(UsernameManagementBackend.get_username)
    generate_username = proxy_method(UsernameManagementBackend.generate_username)
    sync_user_profiles = proxy_method(UsernameManagementBackend.sync_user_profiles)


class Operations:
    """The operations a proxy class declares, bound to one plugin object: all that a call
    through the backend actor's proxy reaches (`Remote` refuses the `_`-named plugin behind
    them). Each is timed for the metrics as operation `name` of plugin `label` of `offering`."""

    def __init__(self, plugin: object, declared: type, offering: str, label: str) -> None:
        for name in vars(declared):
            if not name.startswith("_") and hasattr(plugin, name):
                setattr(self, name, metrics.timed(offering, label, name, getattr(plugin, name)))


class BackendActor(OfferingChild):
    def __init__(self, context: OfferingContext, parent: pykka.ActorRef[Any]) -> None:
        super().__init__(context, parent, "backend")
        self.root = context.root
        # This agent's BaseBackend, or an upstream plugin's UpstreamBackend (actors/upstream).
        self._plugins: dict[str, Any] = {}
        self._usernames: Any = None
        self.order: Operations | None = None
        self.report: Operations | None = None
        self.membership: Operations | None = None
        self.usernames: Operations | None = None
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
        self._usernames = make_usernames(self.offering)
        if self._usernames is not None:
            label = self.offering.username_management_backend
            self.usernames = Operations(self._usernames, UsernamesProxy, self.offering.name, label)
        instances: dict[str, Any] = {}
        for role in ROLES:
            name = self.offering.backend_for(role)  # type: ignore[arg-type]
            if not name:
                continue
            if name not in instances:
                instances[name] = make_backend(name, self.offering, self.root)
            self._plugins[role] = instances[name]
            setattr(self, role, Operations(instances[name], PluginProxy, self.offering.name, name))

    def has_usernames(self) -> bool:
        return self._usernames is not None

    def ping(self) -> dict[str, bool]:
        """Each distinct plugin's ping; exceptions propagate to the asking offering actor."""
        if self.start_error is not None:
            raise self.start_error
        seen: dict[int, bool] = {}
        result = {}
        for role, backend in self._plugins.items():
            if id(backend) not in seen:
                seen[id(backend)] = bool(backend.ping(raise_exception=False))
            result[role] = seen[id(backend)]
        return result

    def capabilities(self, role: str) -> dict[str, Any]:
        """Class flags the core reads off a plugin."""
        backend = self._plugins.get(role)
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
        started = getattr(self._plugins.get(role), "cycle_started", None)
        if started is not None:
            started(role)

    def set_service_provider(self, uuid: str) -> None:
        for backend in self._plugins.values():
            backend.service_provider_uuid = uuid

    def set_offering_details(self, partitions: list[str], plugin_options: dict[str, Any]) -> None:
        """The offering's partitions and plugin options as Waldur has them now, for the plugins
        that act on them (SLURM: partitions of associations, QoS enforcement, account names)."""
        for backend in self._plugins.values():
            if hasattr(backend, "set_offering_details"):
                backend.set_offering_details(list(partitions), dict(plugin_options))


class BackendProxy:
    """The backend actor as the others hold it (`backend_proxy(ref)`); a typing, never
    instantiated."""

    order: PluginProxy
    report: PluginProxy
    membership: PluginProxy
    usernames: UsernamesProxy
    ping = proxy_method(BackendActor.ping)
    capabilities = proxy_method(BackendActor.capabilities)
    has_usernames = proxy_method(BackendActor.has_usernames)
    cycle_started = proxy_method(BackendActor.cycle_started)
    set_service_provider = proxy_method(BackendActor.set_service_provider)
    set_offering_details = proxy_method(BackendActor.set_offering_details)


def backend_proxy(ref: pykka.ActorRef[BackendActor]) -> BackendProxy:
    return cast(BackendProxy, Remote(ref))
