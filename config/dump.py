"""Write a loaded config back out as TOML or YAML, in the file's own key layout."""

from __future__ import annotations

from typing import Any, Literal

import msgspec
import tomli_w
import yaml

from waldur_site_agent_actors.config.model import AgentConfig
from waldur_site_agent_actors.config.secrets import mask_mapping, secret_values


def to_mapping(config: AgentConfig) -> dict[str, Any]:
    """Plain builtins with unset keys omitted (TOML has no null) and component extras inlined."""
    data: dict[str, Any] = msgspec.to_builtins(config)
    for offering in data["offerings"]:
        for component in offering.get("backend_components", {}).values():
            component.update(component.pop("extra", {}))
    for section in ("log_shipping", "supervision"):  # all defaults: no empty table
        if data.get(section) == {}:
            del data[section]
    return _drop_none(data)


def _drop_none(value: Any) -> Any:
    """Without nulls, and whole numbers written as integers (`unit_factor = 60000`, as the
    operator wrote it, not `60000.0`): number fields read either back alike."""
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value if v is not None]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def render(config: AgentConfig, fmt: Literal["toml", "yaml"], *, reveal: bool = False) -> str:
    data = to_mapping(config)
    if not reveal:
        data = mask_mapping(data, secret_values(config))
    if fmt == "toml":
        return tomli_w.dumps(data)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
