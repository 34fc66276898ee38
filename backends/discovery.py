"""Instantiate the native plugins a config names, by entry-point name."""

from __future__ import annotations

from typing import Any

import msgspec

from waldur_site_agent_actors.backends.base import BaseBackend
from waldur_site_agent_actors.backends.exceptions import ConfigurationError
from waldur_site_agent_actors.config import plugins
from waldur_site_agent_actors.config.model import Component, Offering


def component_dicts(components: dict[str, Component]) -> dict[str, dict[str, Any]]:
    """Components as plugins receive them: plain dicts, the plugin's own keys inlined."""
    result = {}
    for key, component in components.items():
        data = {k: v for k, v in msgspec.to_builtins(component).items() if k != "extra"}
        data.update(component.extra)
        result[key] = data
    return result


def is_native(cls: Any) -> bool:
    return isinstance(cls, type) and issubclass(cls, BaseBackend)


def backend_class(name: str, pinned: str | None = None) -> type[BaseBackend]:
    cls = plugins.load(plugins.BACKENDS, name, pinned)
    if not is_native(cls):
        raise ConfigurationError(f"plugin {name!r} is {cls!r}, not a BaseBackend subclass")
    return cls


def construct(cls: type[BaseBackend], offering: Offering) -> BaseBackend:
    return cls(offering.backend_settings, component_dicts(offering.backend_components))


def create_backend(name: str, offering: Offering) -> BaseBackend:
    return construct(backend_class(name, offering.pinned_distribution(name)), offering)
