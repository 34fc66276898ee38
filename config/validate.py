"""Turn a raw mapping into Structs, collecting every error and unknown key with its path.

msgspec stops at the first error of a document; operators want the whole list at once, so each
field is converted on its own and the problems are gathered. Messages name the path the way an
operator writes it (`offerings[1].backend_components.cpu.unit_factor`).
"""

from __future__ import annotations

import contextlib
import difflib
import json
import re
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, get_args, get_origin

import msgspec

from waldur_site_agent_actors.config.secrets import MASK


@dataclass
class Problems:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Neither error nor warning, shown by `validate`: which package provides a pinned plugin."""

    def error(self, path: str, message: str) -> None:
        self.errors.append(f"{path}: {message}")

    def unknown(self, path: str, known: Iterable[str] = ()) -> None:
        """An unknown key; `known` (the keys allowed there) gives a "did you mean"."""
        key = re.split(r"[.\[]", path)[-1]
        close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.75)
        hint = f"; did you mean `{close[0]}`?" if close and not looks_secret(key) else ""
        self.warnings.append(f"{path}: {UNKNOWN}{hint}")


UNKNOWN = "unknown key (ignored)"
"""Said of a key no Struct has; `--strict` makes it an error, said `unknown key`."""


def strict_error(warning: str) -> str:
    return warning.replace(f": {UNKNOWN}", ": unknown key", 1)


def looks_secret(key: str) -> bool:
    """A key name that is more likely a pasted token than a name: long, mixing many letters
    and digits, or long without any word separator."""
    if len(key) < 16:
        return False
    digits, letters = sum(c.isdigit() for c in key), sum(c.isalpha() for c in key)
    return (digits >= 4 and letters >= 4) or (len(key) >= 32 and not re.search(r"[_ .-]", key))


def key_text(key: Any) -> str:
    """A key as messages show it: never a key that looks like a secret."""
    text = str(key)
    return (
        f"<{len(text)}-character key hidden: it looks like a secret>"
        if looks_secret(text)
        else text
    )


class _Full(Exception):
    pass


_CREDENTIALS = re.compile(r"//[^/@\s]*@")
"""`user:password@` in a URL: never echoed."""


def shown(value: Any, limit: int = 60) -> str:
    """JSON-like text of a value, cut at `limit` characters; it stops writing there, so a huge
    value (a YAML alias bomb) costs no more than a small one."""
    parts: list[str] = []
    size = 0

    def emit(text: str) -> None:
        nonlocal size
        parts.append(text)
        size += len(text)
        if size > limit:
            raise _Full

    def walk(item: Any) -> None:
        if isinstance(item, dict):
            emit("{")
            for index, (key, inner) in enumerate(item.items()):
                emit(", " if index else "")
                emit(json.dumps(key_text(key)[: limit + 1]) + ": ")
                walk(inner)
            emit("}")
        elif isinstance(item, list | tuple):
            emit("[")
            for index, inner in enumerate(item):
                emit(", " if index else "")
                walk(inner)
            emit("]")
        elif isinstance(item, str):
            emit(json.dumps(_CREDENTIALS.sub(f"//{MASK}@", item)[: limit + 1]))
        else:
            emit(json.dumps(item, default=str)[: limit + 1])

    with contextlib.suppress(_Full, RecursionError):
        walk(value)
    text = "".join(parts)
    return text if len(text) <= limit and size <= limit else text[: limit - 3] + "..."


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
        sub = f"{path}.{key_text(key)}" if path else key_text(key)
        if key not in info or key == extra_field:
            if extra_field:
                extras[key] = value
            else:
                problems.unknown(sub, [name for name in info if name != extra_field])
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
                k: decode_value(value_type, v, f"{path}.{key_text(k)}", problems)
                for k, v in value.items()
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
