"""The serializers' field sets, read from waldur-api-client's generated models (the schema oracle).

    python -m waldur_site_agent_actors.simulators.waldur.schema > simulators/waldur/fields.py

writes the table `render.complete` fills bodies from: for each model the simulator serves (the
response model the client declares for each of the simulator's routes, and the models nested in
them), every key with its schema-typed empty value (the schema's default, else null where the
schema allows it, else "", false, 0, [], {} or a nested model's own empty body). A key with no
such value (a non-null UUID, date or enum) is left out of the table: the simulator gives it a
real value. Importing the client takes seconds, so the running simulator never imports this
module; a test asserts that the committed table equals `render()`, so upgrading the client shows
what changed. tests/simulator/schema_check.py checks served bodies against the same models.
"""

from __future__ import annotations

import enum
import functools
import inspect
import json
import re
import types
import typing
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import attrs
from waldur_api_client import models
from waldur_api_client.types import Unset

API = Path(models.__file__).resolve().parent.parent / "api"
MODELS = vars(models)
NO_EMPTY = object()  # a key whose type has no empty value: the simulator must give a real one
# Nested models Mastermind fills from a stored JSON object (the offering's plugin and secret
# options, a resource's backend metadata, a subscription's observable objects, an identity's
# dependencies): their keys are whatever was stored, not the model's field set.
JSON_BACKED = frozenset(
    {
        "MergedPluginOptions",
        "MergedSecretOptions",
        "BackendMetadata",
        "EventSubscriptionObservableObject",
        "AgentDependency",
    }
)


@dataclass(frozen=True)
class Field:
    key: str  # as on the wire (`type`, where the attribute is `type_`)
    types: tuple[Any, ...]  # the annotation's union members, Unset left out
    default: Any  # the attrs default, Unset (or attrs.NOTHING for a required key) when none


def model_class(name: str) -> type:
    cls = MODELS[name]
    assert attrs.has(cls), name
    return cls


@functools.cache
def fields(name: str) -> tuple[Field, ...]:
    """The model's keys in schema order."""
    cls = model_class(name)
    hints = typing.get_type_hints(cls, localns=MODELS)
    wire = _wire_keys(cls)
    found = []
    for attribute in attrs.fields(cls):
        if attribute.name == "additional_properties":
            continue
        members = _members(hints[attribute.name])
        default = attribute.default
        kept = tuple(m for m in members if m is not Unset)
        found.append(Field(wire[attribute.name], kept, default))
    return tuple(found)


def _wire_keys(cls: type) -> dict[str, str]:
    """Attribute name -> JSON key, as `to_dict` writes them (`field_dict["type"] = type_`)."""
    source = inspect.getsource(cls.to_dict)  # type: ignore[attr-defined]
    keys = {var: key for key, var in re.findall(r'field_dict\["([^"]+)"\] = \(?\s*(\w+)', source)}
    required = re.search(r"field_dict\.update\(\s*\{(.*?)\}\s*\)", source, re.S)
    if required:
        keys.update({var: key for key, var in re.findall(r'"([^"]+)": (\w+)', required[1])})
    return keys


def _members(annotation: Any) -> tuple[Any, ...]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def nested(field: Field) -> str | None:
    """The name of the structured model this key holds (alone or in a list), if any."""
    for member in field.types:
        inner = typing.get_args(member)[0] if typing.get_origin(member) is list else member
        if isinstance(inner, type) and attrs.has(inner) and declared(inner.__name__):
            return None if inner.__name__ in JSON_BACKED else inner.__name__
    return None


def declared(name: str) -> bool:
    """A model with keys of its own, not a free-form JSON object."""
    return any(a.name != "additional_properties" for a in attrs.fields(model_class(name)))


def empty(field: Field) -> Any:
    if not isinstance(field.default, Unset) and field.default is not attrs.NOTHING:
        return field.default.value if isinstance(field.default, enum.Enum) else field.default
    if type(None) in field.types:
        return None
    for member in field.types:
        value = _empty_of(member)
        if value is not NO_EMPTY:
            return value
    return NO_EMPTY


def _empty_of(member: Any) -> Any:
    if isinstance(member, type) and issubclass(member, enum.Enum):
        blank = [e.value for e in member if e.value == ""]  # BlankEnum: "" is a choice
        return blank[0] if blank else NO_EMPTY
    plain = {str: "", bool: False, int: 0, float: 0.0, dict: {}}
    if member in plain:
        return plain[member]
    if typing.get_origin(member) in (list, dict):
        return [] if typing.get_origin(member) is list else {}
    if member is Any:
        return None
    if isinstance(member, type) and attrs.has(member):
        if member.__name__ in JSON_BACKED or not declared(member.__name__):
            return {}
        return empty_body(member.__name__)
    return NO_EMPTY  # UUID, datetime, date, an enum without a blank choice


def empty_body(name: str) -> Any:
    """The model with every key empty, or NO_EMPTY when one key has no empty value."""
    body = {f.key: empty(f) for f in fields(name)}
    return NO_EMPTY if any(v is NO_EMPTY for v in body.values()) else body


def _template(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{uuid}", path)


def response_models() -> dict[str, dict[int, str | None]]:
    """`METHOD /api/template/` -> {status: model name, or None for an empty body}, for every
    operation of the client, read from its generated `_get_kwargs` and `_parse_response`."""
    found: dict[str, dict[int, str | None]] = {}
    for module in sorted(API.glob("*/*.py")):
        source = module.read_text(encoding="utf-8")
        call = re.search(r'"method": "(\w+)",\s*"url": f?"([^"]+)"', source)
        if call is None:
            continue
        answers: dict[int, str | None] = {}
        for status, line in re.findall(
            r"if response\.status_code == (\d+):\s*\n\s*(.*)", source, re.MULTILINE
        ):
            if "UnexpectedStatus" in line or "cast(Any" in line:
                continue  # an error status, raised or left unparsed
            parsed = re.search(r"(\w+)\.from_dict\(", line)
            answers[int(status)] = parsed[1] if parsed else None
        for status, name in re.findall(r"response_(\d+)_item = (\w+)\.from_dict", source):
            answers[int(status)] = name
        found[f"{call[1].upper()} {_template(call[2])}"] = answers
    return found


def served_routes() -> list[str]:
    """Every API route of the simulator, as `METHOD /api/{uuid}/template/`."""
    from waldur_site_agent_actors.simulators.waldur.http import Router
    from waldur_site_agent_actors.simulators.waldur.server import API_MODULES

    router = Router()
    for module in API_MODULES:
        module.register(router)
    return [_template(key) for key in router.templates() if " /api/" in key]


def served_models() -> list[str]:
    """The response models of the simulator's routes and every structured model inside them."""
    declared_answers = response_models()
    names = {
        name
        for route in served_routes()
        for name in declared_answers.get(route, {}).values()
        if name is not None
    }
    todo, seen = sorted(names), set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(n for f in fields(name) if (n := nested(f)) and n not in seen)
    return sorted(seen)


def table() -> dict[str, dict[str, Any]]:
    """Each served model's keys that have an empty value, with it, in schema order."""
    return {
        name: {f.key: v for f in fields(name) if (v := empty(f)) is not NO_EMPTY}
        for name in served_models()
    }


def render() -> str:
    """fields.py, laid out as `ruff format` leaves it."""
    version = metadata.version("waldur-api-client")
    lines = [
        f'"""Generated from waldur-api-client {version}: do not edit, run',
        "`python -m waldur_site_agent_actors.simulators.waldur.schema"
        " > simulators/waldur/fields.py`.",
        "",
        "EMPTY: each served model's keys with their schema-typed empty values, which",
        "`render.complete` fills in where a serializer gives no value. A key missing here has",
        "no empty value of its type (a non-null UUID, date or enum): the serializer gives a",
        'real one."""',
        "",
        "from typing import Any",
        "",
        "EMPTY: dict[str, dict[str, Any]] = {",
    ]
    for name, values in table().items():
        lines.extend(_literal(values, 1, f'"{name}": '))
    lines.append("}")
    return "\n".join(lines) + "\n"


def _literal(value: Any, depth: int, prefix: str = "") -> list[str]:
    """`value` as Python source, a non-empty dict one item a line with a trailing comma."""
    indent = "    " * depth
    if isinstance(value, dict) and value:
        inner = [line for k, v in value.items() for line in _literal(v, depth + 1, f'"{k}": ')]
        return [f"{indent}{prefix}{{", *inner, f"{indent}}},"]
    text = json.dumps(value) if isinstance(value, str) else repr(value)
    return [f"{indent}{prefix}{text},"]


if __name__ == "__main__":
    print(render(), end="")
