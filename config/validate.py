"""Turn a raw mapping into Structs, collecting every error and unknown key with its path.

msgspec stops at the first error of a document; operators want the whole list at once, so each
field is converted on its own and the problems are gathered. Messages name the path the way an
operator writes it (`offerings[1].backend_components.cpu.unit_factor`).
"""

from __future__ import annotations

import json
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, get_args, get_origin

import msgspec


@dataclass
class Problems:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def error(self, path: str, message: str) -> None:
        self.errors.append(f"{path}: {message}")

    def unknown(self, path: str) -> None:
        self.warnings.append(f"{path}: unknown key (ignored)")


def shown(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def shown_at(path: str, value: Any) -> str:
    """`shown(value)`, unless the key at the end of `path` holds a secret: errors never echo one."""
    from waldur_site_agent_actors.config.secrets import MASK, is_secret_key

    return MASK if is_secret_key(re.split(r"[.\[]", path)[-1]) else shown(value)


_TYPE_WORDS = {
    "float": "a number",
    "int": "an integer",
    "str": "a string",
    "bool": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "nothing",
}


def friendly(msgspec_message: str, bounds: str = "", allowed: tuple[Any, ...] = ()) -> str:
    """Rewrite msgspec's `Expected \\`float\\` > 0.0, got \\`str\\`` as `expected a number > 0`.

    `bounds` (all constraints of the field) replaces the one bound msgspec names; `allowed` (the
    values of a Literal) replaces msgspec's `Invalid enum value`.
    """
    if allowed:
        return "expected one of " + ", ".join(json.dumps(v) for v in allowed)
    text = msgspec_message.split(" - at `", 1)[0]
    match = re.match(r"Expected `([^`]+)`(.*?)(?:, got `[^`]+`)?$", text)
    if not match:
        invalid = re.match(r"Invalid enum value (.*)", text)
        return f"invalid value {invalid.group(1)}" if invalid else text[0].lower() + text[1:]
    kinds = " or ".join(_TYPE_WORDS.get(k.strip(), k.strip()) for k in match.group(1).split("|"))
    bound = bounds or re.sub(r"(\d+)\.0\b", r"\1", match.group(2).strip())
    return f"expected {kinds}{' ' + bound if bound else ''}"


def _literal_values(tp: Any) -> tuple[Any, ...]:
    if get_origin(tp) is typing.Annotated:
        tp = get_args(tp)[0]
    return get_args(tp) if get_origin(tp) is Literal else ()


def _struct_type(tp: Any) -> type[msgspec.Struct] | None:
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return tp
    return None


def _strip_optional(tp: Any) -> Any:
    if get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def decode_struct(
    cls: type[msgspec.Struct],
    raw: Any,
    path: str,
    problems: Problems,
    extra_field: str | None = None,
) -> msgspec.Struct | None:
    """Decode `raw` into `cls`, field by field. Returns None when any error was found inside.

    `extra_field` names a dict field that collects unknown keys instead of warning about them.
    """
    if not isinstance(raw, dict):
        problems.error(path or "(root)", f"expected a mapping, got {shown(raw)}")
        return None
    hints = typing.get_type_hints(cls, include_extras=True)
    info = {f.name: f for f in msgspec.structs.fields(cls)}
    values: dict[str, Any] = {}
    extras: dict[str, Any] = {}
    failed = False
    for key, value in raw.items():
        sub = f"{path}.{key}" if path else str(key)
        if key not in info or key == extra_field:
            if extra_field:
                extras[key] = value
            else:
                problems.unknown(sub)
            continue
        before = len(problems.errors)
        converted = decode_value(hints[key], value, sub, problems)
        if len(problems.errors) > before:
            failed = True
        else:
            values[key] = converted
    for name, f in info.items():
        if f.required and name not in raw:
            problems.error(f"{path}.{name}" if path else name, "required key is missing")
            failed = True
    if extra_field and extras:
        values[extra_field] = extras
    if failed:
        return None
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        problems.error(path or "(root)", str(exc))
        return None


def decode_value(tp: Any, value: Any, path: str, problems: Problems) -> Any:
    inner = _strip_optional(tp)
    struct = _struct_type(inner)
    if struct is not None and value is not None:
        extra = "extra" if "extra" in struct.__struct_fields__ else None
        return decode_struct(struct, value, path, problems, extra_field=extra)
    origin = get_origin(inner)
    if origin is list and value is not None:
        (item_type,) = get_args(inner)
        if _struct_type(item_type) is not None:
            if not isinstance(value, list):
                problems.error(path, f"expected a list, got {shown(value)}")
                return None
            return [
                decode_value(item_type, v, f"{path}[{i}]", problems) for i, v in enumerate(value)
            ]
    if origin is dict and value is not None:
        _, value_type = get_args(inner)
        if _struct_type(value_type) is not None:
            if not isinstance(value, dict):
                problems.error(path, f"expected a mapping, got {shown(value)}")
                return None
            return {
                k: decode_value(value_type, v, f"{path}.{k}", problems) for k, v in value.items()
            }
    try:
        return msgspec.convert(value, tp, strict=False)
    except msgspec.ValidationError as exc:
        message = friendly(str(exc), _bounds(inner), _literal_values(inner))
        problems.error(path, f"{message}, got {shown_at(path, value)}")
        return None


def _bounds(tp: Any) -> str:
    """Numeric constraints of an `Annotated[..., Meta(...)]`, as an operator reads them."""
    words = []
    for meta in get_args(tp)[1:] if get_origin(tp) is typing.Annotated else ():
        for op, attr in ((">", "gt"), (">=", "ge"), ("<", "lt"), ("<=", "le")):
            bound = getattr(meta, attr, None)
            if bound is not None:
                words.append(f"{op} {bound:g}")
    return " and ".join(words)
