"""The offering's plugins, made ready for its backend actor: this agent's plugins as they are,
upstream's behind the adapter (actors/upstream). `validate` runs `problems`, the same choice and
class checks, so a config it calls OK starts.

Which installed distribution provides a name is config.plugins' rule; the start-up log names the
one chosen and every candidate.
"""

from __future__ import annotations

import logging
from importlib.util import find_spec
from typing import Any

from waldur_site_agent_actors.actors import upstream
from waldur_site_agent_actors.backends.client import BaseClient
from waldur_site_agent_actors.backends.discovery import construct, is_native
from waldur_site_agent_actors.backends.exceptions import ConfigurationError
from waldur_site_agent_actors.backends.usernames import UsernameManagementBackend
from waldur_site_agent_actors.config import plugins
from waldur_site_agent_actors.config.model import AgentConfig, Offering
from waldur_site_agent_actors.config.secrets import SecretFilter, secret_values

log = logging.getLogger("actors.plugins")

ROLE_KEYS = {
    "order": "order_processing_backend",
    "report": "reporting_backend",
    "membership": "membership_sync_backend",
}
LOOKUP_ERRORS = (
    plugins.UnknownPlugin,
    plugins.UnknownDistribution,
    plugins.BrokenPlugin,
    ConfigurationError,
)


def backend_class(offering: Offering, name: str) -> tuple[type, plugins.Choice]:
    """The class the rule picks for `name`, checked: this agent's `BaseBackend`, or upstream's
    without a capability this agent would ignore."""
    choice = plugins.choose(plugins.BACKENDS, name, offering.pinned_distribution(name))
    cls = plugins.load_point(name, choice.point)
    if is_native(cls):
        refuse_missing_modules(cls, f"plugin {name!r} from {choice.chosen}")
        return cls, choice
    if upstream.is_upstream_backend(cls):
        refused = upstream.refusals(cls, offering.backend_settings)
        core = upstream.core_problem()
        refused += [core] if core else []
        if refused:
            raise ConfigurationError(f"plugin {name!r} from {choice.chosen}: {'; '.join(refused)}")
        return cls, choice
    raise ConfigurationError(
        f"plugin {name!r} ({choice.point.value}) is {cls!r}, a subclass of neither this agent's "
        "BaseBackend nor upstream's (waldur_site_agent.backend.backends)"
    )


def usernames_class(offering: Offering) -> tuple[type, plugins.Choice]:
    name = offering.username_management_backend
    group = plugins.USERNAME_BACKENDS
    choice = plugins.choose(group, name, offering.pinned_distribution(name))
    cls = plugins.load_point(name, choice.point)
    native = isinstance(cls, type) and issubclass(cls, UsernameManagementBackend)
    if not (native or upstream.is_upstream_usernames(cls)):
        raise ConfigurationError(
            f"username plugin {name!r} ({choice.point.value}) is {cls!r}, a subclass of neither "
            "this agent's UsernameManagementBackend nor upstream's "
            "AbstractUsernameManagementBackend"
        )
    if native:
        refuse_missing_modules(cls, f"username plugin {name!r} from {choice.chosen}")
    return cls, choice


def refuse_missing_modules(cls: type, plugin: str) -> None:
    """A native plugin's `required_modules` (its optional extra) must be installed."""
    missing = [m for m in getattr(cls, "required_modules", ()) if find_spec(m) is None]
    if missing:
        raise ConfigurationError(
            f"{plugin} needs {', '.join(missing)}, which is not installed (the plugin's "
            "optional extra)"
        )


def problems(config: AgentConfig) -> list[str]:
    """Every plugin of every offering through the checks `make_backend` applies, as errors
    with the path of the key that names it."""
    found = []
    for index, offering in enumerate(config.offerings):
        named: dict[str, str] = {}
        for role, key in ROLE_KEYS.items():
            name = offering.backend_for(role)  # type: ignore[arg-type]
            if name and name not in named:
                named[name] = key if getattr(offering, key) else "backend_type"
        for name, key in named.items():
            try:
                backend_class(offering, name)
            except LOOKUP_ERRORS as exc:
                found.append(f"offerings[{index}].{key}: {exc}")
        if offering.username_management_backend:
            try:
                usernames_class(offering)
            except LOOKUP_ERRORS as exc:
                found.append(f"offerings[{index}].username_management_backend: {exc}")
    return found


def make_usernames(offering: Offering) -> Any | None:
    """The offering's username plugin; none (and a warning) when its name is not installed."""
    if not offering.username_management_backend:
        return None
    try:
        cls, choice = usernames_class(offering)
    except plugins.UnknownPlugin as exc:
        log.warning("%s; usernames are not generated here", exc, extra=_on(offering))
        return None
    log.info("username backend %s", choice.describe(), extra=_on(offering))
    if upstream.is_upstream_usernames(cls):
        from waldur_site_agent_actors.actors.upstream.logs import plain_logging
        from waldur_site_agent_actors.actors.upstream.usernames import UpstreamUsernames

        plain_logging()
        return UpstreamUsernames.create(cls, offering)
    return cls(offering.backend_settings, offering)


def make_backend(name: str, offering: Offering, root: AgentConfig) -> Any:
    """One instance of the plugin `name` for this offering, set up as the agent runs it."""
    cls, choice = backend_class(offering, name)
    log.info("backend %s", choice.describe(), extra=_on(offering))
    if upstream.is_upstream_backend(cls):
        from waldur_site_agent_actors.actors.upstream.backend import UpstreamBackend
        from waldur_site_agent_actors.actors.upstream.logs import plain_logging
        from waldur_site_agent_actors.actors.upstream.waldur import UpstreamWaldur, client_for

        plain_logging()
        client = client_for(offering, root.global_proxy, "waldur-site-agent (upstream plugin)")
        backend: Any = UpstreamBackend.create(cls, offering, UpstreamWaldur(offering, client))
    else:
        backend = construct(cls, offering)
        if isinstance(backend.client, BaseClient):
            backend.client.command_timeout = root.command_timeout_seconds
            backend.client.mask = SecretFilter(secret_values(root)).mask
    backend.timezone = root.timezone
    return backend


def _on(offering: Offering) -> dict[str, str]:
    return {"offering": offering.name}
