"""`waldur-site-agent init`: from nothing to a checked config for one offering.

Asks (or reads from flags, agent/init_args.py) the Waldur URL and token, picks the offering from
those the token's user sees, the backend from the installed plugins, the backend's settings from
its schema and the components from the offering's own; validates the result like `validate`,
checks Waldur and the backend like `diagnostics`, and writes the file with mode 600.
A wrong answer is asked again; with --non-interactive it ends the command instead.
"""

from __future__ import annotations

import argparse
import getpass
import os
import pwd
import shutil
import sys
import time
import tomllib
from pathlib import Path
from typing import Any, Literal

import msgspec
import requests

from waldur_site_agent_actors.actors.waldur.api import WaldurApi
from waldur_site_agent_actors.actors.waldur.client import (
    WaldurClient,
    WaldurError,
    WaldurUnreachable,
)
from waldur_site_agent_actors.actors.waldur.models import Offering, UserMe, Version
from waldur_site_agent_actors.agent import process
from waldur_site_agent_actors.agent.cli import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, version
from waldur_site_agent_actors.agent.diagnostics import check_offering
from waldur_site_agent_actors.agent.init_args import CONFIG_DIR
from waldur_site_agent_actors.backends.slurm import homedirs
from waldur_site_agent_actors.config import AgentConfig, ConfigError, keys, load_mapping, plugins
from waldur_site_agent_actors.config.dump import render
from waldur_site_agent_actors.config.secrets import is_secret_key

SERVICE_USER = "waldur-site-agent"
UNIT_CONFIG = f"{CONFIG_DIR}/config.toml"
# Waldur's billing types a backend accounts for; `fixed` and `few` are priced, never measured.
ACCOUNTED = ("usage", "limit", "one")
LISTED_STATES = ["Active", "Paused", "Draft", "Unavailable"]
HOMEDIRS_KEY = "enable_user_homedir_account_creation"
HOMEDIR_KEYS = (HOMEDIRS_KEY, "create_homedirs")
"""One setting under upstream's name and ours: asked once, written under upstream's."""
PACKAGED_PREFIX = "/opt/waldur-site-agent"
"""Where the .deb/.rpm install the agent's virtual environment."""


class InitError(Exception):
    def __init__(self, message: str, code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.code = code


class ListedOffering(Offering, frozen=True):
    type: str = ""
    customer_name: str = ""


class Asker:
    """Questions on the terminal; non-interactive, a default answers and a missing one fails."""

    def __init__(self, interactive: bool) -> None:
        self.interactive = interactive

    def text(
        self, question: str, default: str | None = None, *, flag: str, secret: bool = False
    ) -> str:
        if not self.interactive:
            if default is None:
                raise InitError(f"{flag} is required with --non-interactive", EXIT_CONFIG)
            return default
        prompt = f"{question} [{default}]: " if default else f"{question}: "
        while True:
            answer = (getpass.getpass(prompt) if secret else input(prompt)).strip()
            if answer or default is not None:
                return answer or default or ""
            print("  an answer is needed")

    def yes(self, question: str, default: bool) -> bool:
        if not self.interactive:
            return default
        while True:
            answer = input(f"{question} [{'Y/n' if default else 'y/N'}]: ").strip().lower()
            if not answer:
                return default
            if answer in ("y", "yes", "n", "no"):
                return answer.startswith("y")

    def problem(self, message: str, code: int = EXIT_FAILURE) -> None:
        """A wrong answer: said, then asked again; without a terminal, the end."""
        if not self.interactive:
            raise InitError(message, code)
        print(f"  {message}")


def run_init(args: argparse.Namespace) -> int:
    ask = Asker(interactive=not args.non_interactive)
    try:
        return Init(args, ask).run()
    except InitError as exc:
        print(f"init: {exc}", file=sys.stderr)
        return exc.code
    except EOFError:
        print("\ninit: no answer (input closed); --non-interactive takes flags", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        print("\ninit: interrupted, nothing written", file=sys.stderr)
        return EXIT_FAILURE


class Init:
    def __init__(self, args: argparse.Namespace, ask: Asker) -> None:
        self.args, self.ask = args, ask
        self.fmt, self.path = output_of(args)

    def run(self) -> int:
        owner = resolve_owner(self.args.owner, self.path)
        if self.path.exists() and not self.args.force:
            question = f"{self.path} exists: overwrite it?"
            if not self.ask.interactive or not self.ask.yes(question, False):
                raise InitError(f"{self.path} exists (--force overwrites it)", EXIT_CONFIG)
        client, api_url, token = self.connect()
        offering = self.choose_offering(client)
        backend = self.choose_backend(offering)
        settings = self.settings(backend)
        components = self.components(offering)
        entry: dict[str, Any] = {
            "name": self.args.name or offering.name or "offering",
            "waldur_api_url": api_url,
            "waldur_offering_uuid": offering.uuid,
            "waldur_api_token": token,
            "backend_type": backend,
            "order_processing_backend": backend,
            "reporting_backend": backend,
            "membership_sync_backend": backend,
            "backend_settings": settings,
            "backend_components": components,
        }
        if self.args.insecure:
            entry["verify_ssl"] = False
        document: dict[str, Any] = {"offerings": [entry]}
        if self.args.state_dir:
            document["state_dir"] = self.args.state_dir
        config = self.validate(document)
        if settings.get(HOMEDIRS_KEY):
            allow_homedirs()  # before the checks, which look for it
        if not self.args.no_backend_check:
            process.prepare(config)
            print("\nChecking Waldur and the backend:")
            if not check_offering(config.offerings[0], config) and not self.ask.yes(
                "The checks failed: write the config anyway?", False
            ):
                raise InitError("checks failed, nothing written")
        header = f"# Written by `waldur-site-agent init` on {time.strftime('%Y-%m-%d')}.\n"
        write_private(self.path, header + render(config, self.fmt, reveal=True), owner)
        self.report(owner)
        return EXIT_OK

    # -- the questions, in order ---------------------------------------------------------------

    def connect(self) -> tuple[WaldurClient, str, str]:
        """Waldur's URL (answering `version/`), then a token it accepts (`users/me/`)."""
        url, token = self.args.url, read_token(self.args)
        while True:
            url = url or self.ask.text("Waldur API URL (https://.../api/)", flag="--url")
            try:
                api_url, release = find_api(url, self.args.insecure)
                break
            except (WaldurUnreachable, WaldurError) as exc:
                self.ask.problem(f"cannot reach Waldur at {url}: {exc}")
                url = None
        print(f"  Waldur {release} at {api_url}")
        while True:
            token = token or self.ask.text(
                "Service provider's API token", flag="--token", secret=True
            )
            client = make_client(api_url, token, self.args.insecure)
            try:
                me = WaldurApi(client).me()
                break
            except WaldurError as exc:
                if exc.status not in (401, 403):
                    raise InitError(f"Waldur answered users/me/ with HTTP {exc.status}") from exc
                self.ask.problem(f"Waldur refused this token (HTTP {exc.status})")
                token = None
            except WaldurUnreachable as exc:
                raise InitError(f"Waldur stopped answering: {exc}") from exc
        print(f"  signed in as {describe_user(me)}")
        return client, api_url, token

    def choose_offering(self, client: WaldurClient) -> ListedOffering:
        offerings = client.list(
            "marketplace-provider-offerings/",
            ListedOffering,
            {
                "state": LISTED_STATES,
                "field": ["uuid", "name", "type", "state", "customer_name", "components"],
            },
        )
        if not offerings:
            raise InitError("this token's user manages no offerings in Waldur")
        wanted = self.args.offering
        if not wanted:
            print("\nOfferings:")
            for number, o in enumerate(offerings, 1):
                print(f"  {number}. {o.name} ({o.customer_name}, {o.type}, {o.state}) {o.uuid}")
        while True:
            wanted = wanted or self.ask.text(
                "Offering (number or UUID)",
                "1" if len(offerings) == 1 else None,
                flag="--offering",
            )
            found = pick(offerings, wanted)
            if found is not None:
                return found
            self.ask.problem(f"no offering {wanted!r} among these", EXIT_CONFIG)
            wanted = None

    def choose_backend(self, offering: ListedOffering) -> str:
        installed = sorted(plugins.installed(plugins.BACKENDS))
        if not installed:
            raise InitError("no backend plugin is installed (docs/install.md, Plugins)")
        guess = plugins.canonical(offering.type.rsplit(".", 1)[-1]) if offering.type else ""
        default = guess if guess in installed else (installed[0] if len(installed) == 1 else None)
        name = self.args.backend
        if not name:
            print(f"\nInstalled backends: {', '.join(installed)}")
        while True:
            name = name or self.ask.text("Backend", default, flag="--backend")
            point = plugins.find(plugins.BACKENDS, name)
            if point is not None:
                return point.name
            self.ask.problem(f"no backend {name!r} installed", EXIT_CONFIG)
            name = None

    def settings(self, backend: str) -> dict[str, Any]:
        """The settings the plugin's schema declares: a flag's value, else asked, else left to
        the plugin's default (only answers that differ from it are written)."""
        given = pairs(self.args.setting, "--setting")
        provider = plugins.choose(plugins.BACKENDS, backend).chosen.distribution
        schema = plugins.load_optional(plugins.SETTINGS_SCHEMAS, backend, provider)
        if not (isinstance(schema, type) and issubclass(schema, msgspec.Struct)):
            # No schema we can read: flags only, checked by the plugin itself.
            return {key: toml_value(text) for key, text in given.items()}
        result: dict[str, Any] = {}
        if self.ask.interactive:
            print(f"\nSettings of {backend} (Enter keeps the default):")
        for field in questions(schema, backend):
            default = None if field.required else field_default(field)
            text = given.pop(field.name, None)
            if text is None and not self.ask.interactive:
                if field.required:
                    raise InitError(f"--setting {field.name}=... is required", EXIT_CONFIG)
                continue
            value = self.setting(field, default, text)
            if field.required or value != default:
                result[field.name] = value
        if getattr(plugins.load(plugins.BACKENDS, backend), "supports_user_homedirs", False):
            result[HOMEDIRS_KEY] = self.homedirs(given)
        for key, text in given.items():  # unknown to the schema: validation names them
            result[key] = toml_value(text)
        return result

    def homedirs(self, given: dict[str, str]) -> bool:
        """Whether the backend creates users' home directories: written either way, so the
        file says what upstream's default (on) leaves unsaid."""
        texts = [given.pop(key) for key in HOMEDIR_KEYS if key in given]
        if texts:
            try:
                return bool(parse_as(texts[0], bool))
            except (msgspec.ValidationError, ValueError) as exc:
                self.ask.problem(f"{HOMEDIRS_KEY}: {exc}", EXIT_CONFIG)  # asked below instead
        if self.ask.interactive:
            print(
                "  Home directories: the backend runs mkhomedir_helper for each user given "
                "access (upstream's default);\n  the packaged service needs its drop-in "
                f"{homedirs.DROP_IN} for it."
            )
        return self.ask.yes("  Create users' home directories?", True)

    def setting(self, field: msgspec.structs.FieldInfo, default: Any, text: str | None) -> Any:
        """One setting's value: Enter keeps the default, a wrong answer is asked again."""
        question = f"  {field.name}" + (f" [{shown(default)}]" if shown(default) else "")
        while True:
            if text is None:
                text = self.ask.text(
                    question,
                    None if field.required else "",
                    flag=f"--setting {field.name}=...",
                    secret=is_secret_key(field.name),
                )
            if text == "" and not field.required:
                return default
            try:
                return parse_as(text, field.type)
            except (msgspec.ValidationError, ValueError) as exc:
                self.ask.problem(f"{field.name}: {exc}", EXIT_CONFIG)
                text = None

    def components(self, offering: ListedOffering) -> dict[str, dict[str, Any]]:
        factors = pairs(self.args.unit_factor, "--unit-factor")
        chosen = set(self.args.components.split(",")) if self.args.components else None
        known = {c.type for c in offering.components}
        unknown = (set(factors) | (chosen or set())) - known
        if unknown:
            raise InitError(f"the offering has no component {sorted(unknown)}", EXIT_CONFIG)
        result: dict[str, dict[str, Any]] = {}
        if offering.components and self.ask.interactive:
            print("\nComponents of the offering:")
        for c in offering.components:
            label, unit = c.name or c.type, c.measured_unit or c.type
            if c.billing_type not in ACCOUNTED:
                print(f"  {c.type}: billed {c.billing_type!r}, nothing to account; left out")
                continue
            description = f"{c.type} ({label}, {unit}, billed by {c.billing_type})"
            if chosen is not None and c.type not in chosen:
                continue
            if chosen is None and not self.ask.yes(f"  Serve {description}?", True):
                continue
            text = factors.get(c.type)
            while True:
                text = text or self.ask.text(
                    f"    backend units per {unit} (unit_factor)", "1", flag="--unit-factor"
                )
                try:
                    factor = parse_as(text, float)
                    if factor <= 0:
                        raise ValueError("must be > 0")
                    break
                except (msgspec.ValidationError, ValueError) as exc:
                    self.ask.problem(f"unit_factor of {c.type}: {exc}", EXIT_CONFIG)
                    text = None
            component: dict[str, Any] = {
                "measured_unit": unit,
                "accounting_type": c.billing_type,
                "label": label,
                "unit_factor": int(factor) if factor.is_integer() else factor,
            }
            if c.limit_period:
                component["limit_period"] = c.limit_period
            result[c.type] = component
        return result

    # -- the result ----------------------------------------------------------------------------

    def validate(self, document: dict[str, Any]) -> AgentConfig:
        try:
            loaded = load_mapping(document, source=str(self.path))
        except ConfigError as exc:
            lines = "\n".join(f"  {error}" for error in exc.errors)
            message = f"the answers do not make a valid config:\n{lines}"
            raise InitError(message, EXIT_CONFIG) from None
        for warning in loaded.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        return loaded.config

    def report(self, owner: tuple[str, int, int] | None) -> None:
        whose = f", owner {owner[0]}" if owner else ""
        print(f"\nWrote {self.path} (mode 600{whose}).")
        print(f"Check it: waldur-site-agent validate -c {self.path}")
        if str(self.path) != UNIT_CONFIG:
            print(
                f"The service reads {UNIT_CONFIG}; to use this file instead, "
                "`systemctl edit waldur-site-agent` and add:\n"
                f"  [Service]\n  Environment=WALDUR_SITE_AGENT_CONFIG={self.path}"
            )
        print("Start it: systemctl enable --now waldur-site-agent")


# -- helpers -------------------------------------------------------------------------------------


def output_of(args: argparse.Namespace) -> tuple[Literal["toml", "yaml"], Path]:
    """The format and the file; the loader reads `.toml` as TOML and anything else as YAML."""
    if args.output:
        path = Path(args.output)
        is_toml = path.suffix.lower() == ".toml"
        if args.format and (args.format == "toml") != is_toml:
            raise InitError(f"{path}: a {args.format} file needs the matching name", EXIT_CONFIG)
        return ("toml" if is_toml else "yaml"), path
    fmt: Literal["toml", "yaml"] = "yaml" if args.format == "yaml" else "toml"
    return fmt, Path(CONFIG_DIR) / f"config.{fmt}"


def resolve_owner(name: str | None, path: Path) -> tuple[str, int, int] | None:
    if name is None and os.geteuid() == 0 and path.parent == Path(CONFIG_DIR):
        try:
            pwd.getpwnam(SERVICE_USER)
            name = SERVICE_USER
        except KeyError:
            return None
    if not name:
        return None
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise InitError(f"--owner: no user {name!r}", EXIT_CONFIG) from None
    return name, entry.pw_uid, entry.pw_gid


def read_token(args: argparse.Namespace) -> str | None:
    path = args.token_file
    if path:
        try:
            source = sys.stdin if path == "-" else open(path)  # noqa: SIM115
            with source:
                return source.read().strip() or None
        except OSError as exc:
            raise InitError(f"--token-file: {exc.strerror}: {path}", EXIT_CONFIG) from None
    return args.token or None


def make_client(api_url: str, token: str, insecure: bool) -> WaldurClient:
    # One attempt and short timeouts: a person is waiting for the answer.
    return WaldurClient(
        api_url,
        token,
        verify_ssl=not insecure,
        user_agent=f"waldur-site-agent/{version()} init",
        connect_timeout=5.0,
        read_timeout=30.0,
        max_attempts=1,
    )


def find_api(url: str, insecure: bool) -> tuple[str, str]:
    """The API root answering `version/`: the URL as given, or with `api/` added to it."""
    base = url.strip().rstrip("/") + "/"
    candidates = [base] if base.endswith("/api/") else [base, base + "api/"]
    for candidate in candidates:
        try:
            return candidate, waldur_release(make_client(candidate, "", insecure))
        except WaldurError as exc:
            if exc.status != 404 or candidate == candidates[-1]:
                raise
        except msgspec.DecodeError:
            continue
    raise WaldurUnreachable(f"{base}: no Waldur API answers there")


def waldur_release(client: WaldurClient) -> str:
    """`version/`, asked without credentials: Waldur refuses an empty token header even there."""
    try:
        response = client.session.get(client.url("version/"), timeout=client.timeout)
    except requests.RequestException as exc:
        raise WaldurUnreachable(f"GET version/: {type(exc).__name__}") from exc
    if response.status_code >= 400:
        raise WaldurError("GET", "version/", response.status_code, response.text[:200])
    return msgspec.json.decode(response.content, type=Version).version


def describe_user(me: UserMe) -> str:
    return f"{me.username}{' (staff)' if me.is_staff else ''}"


def pick(offerings: list[ListedOffering], wanted: str) -> ListedOffering | None:
    wanted = wanted.strip()
    if wanted.isdigit() and 1 <= int(wanted) <= len(offerings):
        return offerings[int(wanted) - 1]
    key = wanted.replace("-", "").lower()
    return next(
        (o for o in offerings if (o.uuid or "").replace("-", "").lower() == key),
        next((o for o in offerings if o.name == wanted), None),
    )


def pairs(items: list[str], flag: str) -> dict[str, str]:
    result = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InitError(f"{flag} {item!r}: expected KEY=VALUE", EXIT_CONFIG)
        result[key.strip()] = value.strip()
    return result


def toml_value(text: str) -> Any:
    """`42`, `true`, `["a", "b"]` and `{x = 1}` as TOML reads them; anything else as text."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_as(text: str, kind: Any) -> Any:
    """An answer as the schema's type wants it: as typed (`7` for an int, `yes` for a bool),
    else as a TOML value, else a list from comma-separated items."""
    attempts = [text, toml_value(text), [item.strip() for item in text.split(",") if item]]
    error: Exception | None = None
    for candidate in attempts:
        try:
            return msgspec.convert(candidate, kind, strict=False)
        except msgspec.ValidationError as exc:
            error = error or exc
    assert error is not None
    raise error


def questions(schema: type[msgspec.Struct], backend: str) -> list[msgspec.structs.FieldInfo]:
    """The settings worth asking about: the plugin's own first, in its order, then those all
    backends share; not those that do nothing here or are refused when set (config/keys.py)."""
    scope = keys.plugin_scope(plugins.canonical(backend)) or "backend_settings"
    idle = keys.Inert | keys.Refused | keys.With
    wanted = [
        field
        for field in msgspec.structs.fields(schema)
        if field.required
        or not (isinstance(keys.status(scope, field.name), idle) or field.name in HOMEDIR_KEYS)
    ]
    own = list(vars(schema).get("__annotations__", {}))
    return sorted(wanted, key=lambda f: own.index(f.name) if f.name in own else len(own))


def field_default(field: msgspec.structs.FieldInfo) -> Any:
    if field.default is not msgspec.NODEFAULT:
        return field.default
    if field.default_factory is not msgspec.NODEFAULT:
        return field.default_factory()
    return None


def shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return ", ".join(str(v) for v in value)
    if isinstance(value, str | int | float) or value is None:
        return "" if value is None else str(value)
    return msgspec.json.encode(value).decode()  # tables and nested settings, as JSON


def allow_homedirs() -> None:
    """The unit drop-in that lets the packaged service create home directories: installed when
    root runs the packaged agent, else said how."""
    target = Path(homedirs.UNIT_DROP_INS) / Path(homedirs.DROP_IN).name
    packaged = Path(sys.prefix) == Path(PACKAGED_PREFIX) and Path(homedirs.DROP_IN).is_file()
    if not (packaged and os.geteuid() == 0):
        print(
            "\nHome directories are on: under the packaged service, install its drop-in as "
            f"root:\n  install -D -m 644 {homedirs.DROP_IN} {target}\n"
            "  systemctl daemon-reload"
        )
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(homedirs.DROP_IN, target)
    target.chmod(0o644)
    print(
        f"\nInstalled {target}: the service may create home directories "
        "(systemctl daemon-reload before starting it)."
    )


def write_private(path: Path, text: str, owner: tuple[str, int, int] | None) -> None:
    """Atomically, mode 600 from the first byte: the file holds the Waldur token."""
    if not path.parent.is_dir():
        raise InitError(f"{path.parent}: no such directory", EXIT_CONFIG)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            if owner:
                os.fchown(handle.fileno(), owner[1], owner[2])
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
