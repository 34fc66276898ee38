"""The backend actor: the only place an offering's plugins are called.

Its mailbox serialises every CLI/API call of the offering, so no two `sacctmgr` calls of one
offering ever run at once, whichever mode asked. The other children reach the plugins through
this actor's proxy (`backend.order.create_resource_with_id(...)` returns a future).
"""

from __future__ import annotations

import logging
from typing import Any, TypeVar

import pykka

from waldur_site_agent_actors.backends.base import BaseBackend
from waldur_site_agent_actors.backends.client import BaseClient
from waldur_site_agent_actors.backends.discovery import create_backend
from waldur_site_agent_actors.backends.usernames import UsernameManagementBackend
from waldur_site_agent_actors.config import plugins
from waldur_site_agent_actors.config.model import AgentConfig, Offering
from waldur_site_agent_actors.config.secrets import SecretFilter, secret_values

log = logging.getLogger("actors.backend")

ROLES = ("order", "report", "membership")
T = TypeVar("T")


class BackendActor(pykka.ThreadingActor):
    def __init__(self, offering: Offering, root: AgentConfig) -> None:
        super().__init__()
        self.offering = offering
        self.root = root
        self.order: BaseBackend | None = None
        self.report: BaseBackend | None = None
        self.membership: BaseBackend | None = None
        self.usernames: UsernameManagementBackend | None = None

    def on_start(self) -> None:
        # One instance per distinct plugin name: roles served by the same plugin share it.
        instances: dict[str, BaseBackend] = {}
        masker = SecretFilter(secret_values(self.root))
        for role in ROLES:
            name = self.offering.backend_for(role)  # type: ignore[arg-type]
            if not name:
                continue
            if name not in instances:
                backend = create_backend(name, self.offering)
                backend.timezone = self.root.timezone
                if isinstance(backend.client, BaseClient):
                    backend.client.command_timeout = self.root.command_timeout_seconds
                    backend.client.mask = masker.mask
                instances[name] = backend
            setattr(self, role, exposed(instances[name]))
        self._start_username_backend()

    def _start_username_backend(self) -> None:
        name = self.offering.username_management_backend
        if not name or plugins.find(plugins.USERNAME_BACKENDS, name) is None:
            log.warning(
                "username backend %r is not installed; usernames are not generated here",
                name,
                extra={"offering": self.offering.name},
            )
            return
        cls = plugins.load(plugins.USERNAME_BACKENDS, name)
        self.usernames = exposed(cls(self.offering.backend_settings, self.offering))

    def has_usernames(self) -> bool:
        return self.usernames is not None

    def ping(self) -> dict[str, bool]:
        """Each distinct plugin's ping; exceptions propagate to the asking offering actor."""
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
        }

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


def exposed(plugin: T) -> T:
    """Make a plugin's methods callable through this actor's proxy (`proxy.order.ping()`).

    `pykka.traversable()` refuses classes that declare `__slots__`, and `abc.ABC` declares an
    empty one, so the marker pykka looks for is set directly on the instance.
    """
    plugin.pykka_traversable = True  # type: ignore[attr-defined]
    return plugin
