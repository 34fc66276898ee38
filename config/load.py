"""Read a configuration file (YAML or TOML), apply environment overrides, validate everything."""

from __future__ import annotations

import importlib.util
import os
import pwd
import re
import tomllib
import zoneinfo
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import msgspec
import yaml

from waldur_site_agent_actors.config import keys, plugins
from waldur_site_agent_actors.config.extras import check_extras
from waldur_site_agent_actors.config.model import AgentConfig, Component
from waldur_site_agent_actors.config.secrets import is_secret_key
from waldur_site_agent_actors.config.validate import (
    Problems,
    decode_struct,
    key_text,
    shown,
    strict_error,
)

# Upstream reads its loop periods from these variables; they keep working and win over the file.
ENV_OVERRIDES = {
    "WALDUR_SITE_AGENT_ORDER_PROCESS_PERIOD_MINUTES": "order_process_period_minutes",
    "WALDUR_SITE_AGENT_REPORT_PERIOD_MINUTES": "report_period_minutes",
    "WALDUR_SITE_AGENT_MEMBERSHIP_SYNC_PERIOD_MINUTES": "membership_sync_period_minutes",
    "WALDUR_SITE_AGENT_RECONCILIATION_PERIOD_MINUTES": "reconciliation_period_minutes",
}


ROLE_KEYS = (
    "backend_type",
    "order_processing_backend",
    "reporting_backend",
    "membership_sync_backend",
)


class ConfigError(Exception):
    """The file cannot be used; `errors` lists every problem found, each with its path."""

    def __init__(self, source: str, errors: list[str], warnings: list[str] | None = None) -> None:
        self.source, self.errors, self.warnings = source, errors, warnings or []
        super().__init__(f"{source}: {len(errors)} error(s)\n" + "\n".join(errors))


@dataclass(frozen=True)
class Loaded:
    config: AgentConfig
    warnings: list[str]
    source: str
    notes: tuple[str, ...] = ()


MAX_BYTES = 512 * 1024
"""Far above any real config (upstream's largest example is 15 KB), low enough to parse fast."""
MAX_DEPTH = 64
MAX_VALUES = 100_000
"""Values in the document once YAML aliases are expanded: a few KB of aliases can stand for
billions of values (an alias bomb), which every walk over the config would then visit."""

YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_document(path: Path) -> Any:
    """Parse by extension: `.toml` is TOML, anything else YAML (anchors and `<<` merges work).
    Raises `ConfigError` with one message for anything that makes the file unusable."""
    source = str(path)
    text = read_text(path)
    toml = path.suffix.lower() == ".toml"
    try:
        # yaml.load with a safe loader (S506 does not know CSafeLoader)
        document = tomllib.loads(text) if toml else yaml.load(text, Loader=YAML_LOADER)  # noqa: S506
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = str(exc.problem or exc.context or "invalid YAML")
        if "maximum nesting depth" in problem:
            problem = f"nested more than {MAX_DEPTH} levels deep"
        raise ConfigError(source, [f"{where}: YAML syntax error: {problem}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError(source, [f"{source}: YAML error: {exc}"]) from None
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = re.search(r"\s*\(at line (\d+), column (\d+)\)", message)
        where = f"{source}:{found.group(1)}:{found.group(2)}" if found else source
        problem = message[: found.start()] if found else message
        raise ConfigError(source, [f"{where}: TOML syntax error: {problem}"]) from None
    except RecursionError:
        raise ConfigError(source, [f"{source}: nested more than {MAX_DEPTH} levels deep"]) from None
    check_size(document, source, aliases=not toml)
    return document


def read_text(path: Path) -> str:
    """The file's text, at most `MAX_BYTES` of it read: /dev/zero or a huge file cannot hang or
    fill memory."""
    source = str(path)
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(source, [f"{source}: no such file"]) from None
    except IsADirectoryError:
        raise ConfigError(source, [f"{source}: is a directory, not a config file"]) from None
    except PermissionError:
        user = pwd.getpwuid(os.geteuid()).pw_name
        message = f"{source}: permission denied: user {user} may not read it (see its owner, mode)"
        raise ConfigError(source, [message]) from None
    except OSError as exc:
        raise ConfigError(source, [f"{source}: cannot read: {exc.strerror or exc}"]) from None
    if len(data) > MAX_BYTES:
        raise ConfigError(
            source, [f"{source}: larger than {MAX_BYTES // 1024} KiB: not a config file"]
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(source, [f"{source}: not UTF-8 text (byte {exc.start})"]) from None


def check_size(document: Any, source: str, aliases: bool = True) -> None:
    """Refuse documents too deep or, with aliases expanded, too big; iterative, and it stops at
    the first bound crossed, so a bomb costs no more than `MAX_VALUES` steps. `aliases`: the
    format has them (YAML), so the message may name the likely cause."""
    stack: list[tuple[Any, int]] = [(document, 0)]
    seen = 0
    while stack:
        value, depth = stack.pop()
        seen += 1
        if depth > MAX_DEPTH:
            raise ConfigError(source, [f"{source}: nested more than {MAX_DEPTH} levels deep"])
        if seen > MAX_VALUES:
            cause = (
                " once YAML aliases are expanded (an alias bomb?)"
                if aliases
                else ": far more than any config holds"
            )
            raise ConfigError(source, [f"{source}: more than {MAX_VALUES} values{cause}"])
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)


def load_file(path: str | os.PathLike[str], *, strict: bool = False) -> Loaded:
    raw = read_document(Path(path))
    return load_mapping(raw, source=str(path), strict=strict, environ=os.environ)


def load_mapping(
    raw: Any,
    *,
    source: str = "<config>",
    strict: bool = False,
    environ: dict[str, str] | os._Environ[str] | None = None,
) -> Loaded:
    problems = Problems()
    overridden: dict[str, str] = {}
    if isinstance(raw, dict):
        raw = dict(raw)
        # Sites keep shared YAML anchors under a root key of their own; it is not config.
        for key in [k for k in raw if isinstance(k, str) and k.startswith(("x-", "_", "."))]:
            del raw[key]
        # Upstream reads log levels case-insensitively (`log_level: info` is fine).
        if isinstance(raw.get("log_level"), str):
            raw["log_level"] = raw["log_level"].upper()
        shipping = raw.get("log_shipping")
        if isinstance(shipping, dict) and isinstance(shipping.get("log_level"), str):
            raw["log_shipping"] = {**shipping, "log_level": shipping["log_level"].upper()}
        for variable, key in ENV_OVERRIDES.items():
            if environ and environ.get(variable):
                raw[key] = environ[variable]
                overridden[f"{key}: "] = f"{key} (from {variable}): "
    config = decode_struct(AgentConfig, raw, "", problems)
    for index, error in enumerate(problems.errors):
        for prefix, named in overridden.items():
            if error.startswith(prefix):
                problems.errors[index] = named + error[len(prefix) :]
    # On the raw document, so that one offering failing to decode hides no error of another.
    check_semantics(raw, problems)
    if strict:
        problems.errors.extend(strict_error(w) for w in problems.warnings)
        problems.warnings = []
    problems.errors.sort(key=path_order)
    problems.warnings.sort(key=path_order)
    if problems.errors or not isinstance(config, AgentConfig):
        raise ConfigError(source, problems.errors, problems.warnings)
    return Loaded(
        config=config, warnings=problems.warnings, source=source, notes=tuple(problems.notes)
    )


def path_order(message: str) -> tuple[Any, ...]:
    """Messages in the order of their paths, list indexes compared as numbers (offerings[2]
    before offerings[10])."""
    path = message.split(": ", 1)[0]
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"\[(\d+)\]", path))


def check_semantics(raw: Any, problems: Problems) -> None:
    """Checks beyond types. Values of the wrong type are skipped: decoding reported them."""
    if not isinstance(raw, dict):
        return
    check_secrets_placed(raw, problems)
    refuse_unsupported("root", raw, "", problems)
    check_extras(raw, problems)
    check_proxy(raw.get("global_proxy"), problems)
    timezone = raw.get("timezone", "UTC")
    if isinstance(timezone, str):
        try:
            zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            problems.error("timezone", f"unknown IANA time zone {shown(timezone)}")
    offerings = raw.get("offerings")
    if not isinstance(offerings, list):
        return
    if not offerings:
        problems.error("offerings", "no offering: the agent would serve nothing; list at least one")
    seen: dict[str, int] = {}
    for index, raw_offering in enumerate(offerings):
        if not isinstance(raw_offering, dict):
            continue
        path = f"offerings[{index}]"
        check_offering(raw_offering, path, problems)
        uuid = raw_offering.get("waldur_offering_uuid")
        if not isinstance(uuid, str) or not uuid:
            continue
        if uuid in seen:
            problems.error(
                f"{path}.waldur_offering_uuid", f"same offering as offerings[{seen[uuid]}]"
            )
        seen.setdefault(uuid, index)


def check_proxy(proxy: Any, problems: Problems) -> None:
    """A proxy `requests` can use: http(s), or SOCKS with PySocks (upstream's httpx needs its
    `socksio` for SOCKS just the same). Never echoed: the URL may hold a password."""
    if not isinstance(proxy, str) or not proxy:
        return
    try:
        url = urlparse(proxy)
        scheme, host = url.scheme, url.hostname
    except ValueError:
        scheme, host = "", None
    if scheme in ("socks4", "socks4a", "socks5", "socks5h") and host:
        if importlib.util.find_spec("socks") is None:
            problems.error(
                "global_proxy",
                "a SOCKS proxy needs PySocks, which is not installed (pip install "
                "PySocks), or use an http:// proxy",
            )
    elif scheme not in ("http", "https") or not host:
        problems.error("global_proxy", "expected a proxy URL: http://host:port (or https, socks5)")


def _text(raw: dict[str, Any], key: str) -> str:
    value = raw.get(key)
    return value if isinstance(value, str) else ""


def check_secrets_placed(raw: dict[str, Any], problems: Problems) -> None:
    """A secret's value under a key not marked secret (a token pasted into a plugin setting)
    is masked in logs and `config show` all the same; the warning says where to move it."""
    secrets: dict[str, str] = {}
    plain: list[tuple[str, str]] = []

    def walk(value: Any, path: str, key: str) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{path}.{key_text(k)}" if path else key_text(k), str(k))
        elif isinstance(value, list):
            for index, v in enumerate(value):
                walk(v, f"{path}[{index}]", key)
        elif isinstance(value, str) and len(value) >= 4:
            if is_secret_key(key):
                secrets.setdefault(value, path)
            else:
                plain.append((path, value))

    walk(raw, "", "")
    for path, value in plain:
        source = next((where for secret, where in secrets.items() if secret in value), None)
        if source:
            problems.warnings.append(
                f"{path}: holds the secret value of {source} under a key not marked secret "
                "(masked in logs and output all the same); keep secrets under secret keys"
            )


def refuse_unsupported(scope: str, raw: Any, path: str, problems: Problems) -> None:
    """Upstream keys this agent does not have yet, turned on: errors naming them (config/keys)."""
    for key, message in keys.refusals(scope, raw):
        where = f"{path}.{key}" if path else key
        if not any(error.startswith(f"{where}: ") for error in problems.errors):
            problems.error(where, message)  # a value of the wrong type is that error alone


def refuse_unsupported_in_offering(
    raw: dict[str, Any], path: str, problems: Problems, upstream: set[str]
) -> None:
    refuse_unsupported("offering", raw, path, problems)
    components = raw.get("backend_components")
    components = components if isinstance(components, dict) else {}
    for name, component in components.items():
        where = f"{path}.backend_components.{key_text(name)}"
        refuse_unsupported("component", component, where, problems)
    # An upstream plugin's settings are its own and upstream core's, read there or by the
    # adapter (docs/plugins.md, section 8): none is this agent's to refuse.
    named = {_text(raw, key) for key in ROLE_KEYS} - {""}
    named = {name for name in named if plugins.canonical(name) not in upstream}
    # A plugin without a scope of its own (a third party's) still gets the keys all share.
    scopes = {keys.plugin_scope(plugins.canonical(name)) or "backend_settings" for name in named}
    found: set[str] = set()
    for scope in sorted(scopes):
        settings = Problems(errors=list(problems.errors))
        refuse_unsupported(scope, raw.get("backend_settings"), f"{path}.backend_settings", settings)
        for name, component in components.items():
            where = f"{path}.backend_components.{key_text(name)}"
            refuse_unsupported(f"{scope} component", component, where, settings)
        found.update(settings.errors[len(problems.errors) :])
    problems.errors.extend(sorted(found))


def check_offering(raw: dict[str, Any], path: str, problems: Problems) -> None:
    url_text = raw.get("waldur_api_url")
    if isinstance(url_text, str):
        url = urlparse(url_text)
        if url.scheme not in ("http", "https") or not url.netloc:
            problems.error(
                f"{path}.waldur_api_url", f"expected an http(s) URL, got {shown(url_text)}"
            )
        elif url.username or url.password:
            # requests would send them as Basic auth in place of the token: 401 on every call.
            problems.error(
                f"{path}.waldur_api_url",
                "credentials in the URL (user:password@) would be sent instead of the token; "
                "remove them and set waldur_api_token",
            )
    credentials = ("waldur_api_token", "oidc_token_url", "oidc_client_id", "oidc_client_secret")
    if all(isinstance(raw.get(key), str | None) for key in credentials):
        token, *oidc = (_text(raw, key) for key in credentials)
        if not token and not all(oidc):
            problems.error(
                f"{path}.waldur_api_token",
                "set a token, or all three of oidc_token_url, oidc_client_id, oidc_client_secret",
            )
    if raw.get("stomp_membership_sync_enabled") is True and raw.get("stomp_enabled") is not True:
        # Upstream warns too, and then syncs membership nowhere: its polling leaves it to events
        # that never start. Here it stays on polling, which is what the file can only mean.
        problems.warnings.append(
            f"{path}.stomp_membership_sync_enabled: true, but stomp_enabled is not: no events to "
            "sync membership by, so it is synced by polling (set stomp_enabled, or remove the key)"
        )
    if not any(_text(raw, key) for key in ROLE_KEYS) and all(
        isinstance(raw.get(key), str | None) for key in ROLE_KEYS
    ):
        problems.error(
            f"{path}.backend_type",
            "no backend named: set backend_type or one of order_processing_backend, "
            "reporting_backend, membership_sync_backend",
        )
    pins = raw.get("plugin_distributions")
    pins = (
        {str(k): v for k, v in pins.items() if isinstance(v, str)} if isinstance(pins, dict) else {}
    )
    pinned = {plugins.canonical(name): (name, dist) for name, dist in pins.items()}
    used: set[str] = set()
    upstream: set[str] = set()
    names: dict[str, str] = {}
    for key in ROLE_KEYS:
        if name := _text(raw, key):
            names.setdefault(plugins.canonical(name), key)
    for name, key in names.items():
        used.add(name)
        chosen = choose_plugin(plugins.BACKENDS, name, key, pinned, path, problems)
        if chosen is not None:
            choice, cls = chosen
            check_plugin_schemas(name, choice.chosen.distribution, raw, path, problems)
            if plugins.derives_from_upstream(cls, "BaseBackend"):
                upstream.add(name)
    username_backend = raw.get("username_management_backend", "base")
    if isinstance(username_backend, str) and username_backend:
        used.add(plugins.canonical(username_backend))
        key = "username_management_backend"
        choose_plugin(plugins.USERNAME_BACKENDS, username_backend, key, pinned, path, problems)
    for name in sorted(set(pinned) - used):
        problems.error(
            f"{path}.plugin_distributions.{pinned[name][0]}",
            f"the offering names no plugin {name!r} (pins are for the backend_type, role and "
            "username_management_backend plugins it names)",
        )
    refuse_unsupported_in_offering(raw, path, problems, upstream)


def choose_plugin(
    group: str,
    name: str,
    key: str,
    pinned: dict[str, tuple[str, str]],
    path: str,
    problems: Problems,
) -> tuple[plugins.Choice, Any] | None:
    """The rule's choice for `name` and its class, imported; every candidate named when there
    are several."""
    pin_key, distribution = pinned.get(plugins.canonical(name), ("", None))
    try:
        choice = plugins.choose(group, name, distribution)
        cls = plugins.load_point(name, choice.point)
    except plugins.UnknownDistribution as exc:
        problems.error(f"{path}.plugin_distributions.{pin_key}", str(exc))
        return None
    except (plugins.UnknownPlugin, plugins.BrokenPlugin) as exc:
        problems.error(f"{path}.{key}", str(exc))
        return None
    if len(choice.candidates) > 1:
        if choice.rule == plugins.PINNED:
            problems.notes.append(f"{path}.{key}: {choice.describe()}")
        else:
            problems.warnings.append(
                f"{path}.{key}: {choice.describe()}; pin one with "
                f"{path}.plugin_distributions.{name}"
            )
    return choice, cls


def check_plugin_schemas(
    name: str, distribution: str, raw: dict[str, Any], path: str, problems: Problems
) -> None:
    """A plugin's own schemas are errors, not warnings: its settings are what it runs on. The
    schemas are those of the distribution whose backend runs."""
    try:
        settings_schema = plugins.load_optional(plugins.SETTINGS_SCHEMAS, name, distribution)
        component_schema = plugins.load_optional(plugins.COMPONENT_SCHEMAS, name, distribution)
    except plugins.BrokenPlugin as exc:
        problems.error(f"{path}.backend_settings", str(exc))
        return
    settings = raw.get("backend_settings") or {}
    if settings_schema is not None and isinstance(settings, dict):
        check_with_schema(settings_schema, settings, f"{path}.backend_settings", problems)
    components = raw.get("backend_components") or {}
    if component_schema is not None and isinstance(components, dict):
        core = set(Component.__struct_fields__) - {"extra"}
        for key, component in components.items():
            if isinstance(component, dict):
                extra = {k: v for k, v in component.items() if k not in core}
                where = f"{path}.backend_components.{key_text(key)}"
                check_with_schema(component_schema, extra, where, problems)


# `backend_settings` keys upstream's core reads for every plugin (naming, uniqueness, deletion,
# home directories): an upstream plugin's schema that forbids unknown keys does not know them,
# yet upstream runs with them, so they are not that schema's "unknown keys".
UPSTREAM_CORE_SETTINGS = frozenset(
    {
        "allocation_prefix",
        "project_prefix",
        "customer_prefix",
        "default_account",
        "check_backend_id_uniqueness",
        "check_all_offerings",
        "backend_id_max_retries",
        "soft_delete",
        "enable_user_homedir_account_creation",
        "default_homedir_umask",
        "homedir_base_path",
        "homedir_quota",
        "periodic_limits",
    }
)


def check_with_schema(schema: Any, data: dict[str, Any], path: str, problems: Problems) -> None:
    if isinstance(schema, type) and issubclass(schema, msgspec.Struct):
        strict = Problems()
        decode_struct(schema, data, path, strict)
        problems.errors.extend(strict.errors)
        problems.errors.extend(strict_error(w) for w in strict.warnings)
        return
    validate = getattr(schema, "model_validate", None)  # pydantic schemas of upstream plugins
    if validate is None:
        problems.error(path, f"plugin schema {schema!r} is neither a msgspec Struct nor pydantic")
        return
    try:
        validate(data)
    except Exception as exc:
        for item in getattr(exc, "errors", lambda: [])() or [{"loc": (), "msg": str(exc)}]:
            loc = item.get("loc") or ("",)
            if item.get("type") == "extra_forbidden" and loc[0] in UPSTREAM_CORE_SETTINGS:
                continue
            where = ".".join(str(p) for p in item.get("loc", ()))
            problems.error(f"{path}.{where}" if where else path, str(item.get("msg")).lower())
