"""The Markdown reference of every configuration key, rendered from the config Structs.

`python -m waldur_site_agent_actors.config.reference > docs/config.md` writes docs/config.md;
a test asserts the file equals `render()`, so the documentation cannot drift from the model.
Names, types and defaults come from the Structs; the one-line descriptions live here, in
`DESCRIPTIONS`, and a test asserts that every field has one and that no description names a
field that does not exist.
"""

from __future__ import annotations

import json
import types
import typing
from typing import Any, Literal, get_args, get_origin

import msgspec

from waldur_site_agent_actors.config import keys
from waldur_site_agent_actors.config.load import ENV_OVERRIDES, MAX_BYTES, MAX_DEPTH, MAX_VALUES
from waldur_site_agent_actors.config.model import (
    SECRET_KEYS,
    AgentConfig,
    BackendSettings,
    Component,
    LogShipping,
    Metrics,
    Offering,
    Supervision,
)
from waldur_site_agent_actors.config.secrets import SECRET_SUFFIXES

OURS = "**Ours** (not upstream)."

DESCRIPTIONS: dict[type[msgspec.Struct], dict[str, str]] = {
    AgentConfig: {
        "offerings": "The Waldur offerings this agent serves, one actor each (see Offering keys).",
        "sentry_dsn": "Sentry DSN: ERROR log lines and their exceptions go to Sentry, secrets "
        "masked; needs the `sentry` extra. Unset or empty: off.",
        "elastic_apm_server_url": "Elastic APM server URL: ERROR log lines and their exceptions "
        "go to APM, secrets masked; needs the `elastic-apm` extra. Unset or empty: off.",
        "timezone": "IANA time zone of the billing clock (month boundaries of usage reports).",
        "global_proxy": (
            "Proxy URL (`http://host:port`; SOCKS needs PySocks) for every call to Waldur: the "
            "agent's, its OIDC token's, the site tools'; it wins over `HTTP(S)_PROXY`. Empty: "
            "the environment's. Not used for the backends' own systems."
        ),
        "log_level": "Log level of the agent, case-insensitive.",
        "reporting_periods": "Months (the current and earlier ones) each report cycle sends.",
        "expose_backend_error_details": (
            "Send exception text and traceback to Waldur on a failure (orders, resources marked "
            "Erred, import requests, key rotations); false sends no traceback, a `BackendError`'s "
            "text, and a generic sentence for any other error."
        ),
        "log_shipping": "Shipping of agent logs to Waldur (see log_shipping keys).",
        "order_process_period_minutes": (
            f"{OURS} Period of the order loop; `WALDUR_SITE_AGENT_ORDER_PROCESS_PERIOD_MINUTES` "
            "overrides it."
        ),
        "report_period_minutes": (
            f"{OURS} Period of the usage report loop; `WALDUR_SITE_AGENT_REPORT_PERIOD_MINUTES` "
            "overrides it."
        ),
        "membership_sync_period_minutes": (
            f"{OURS} Period of the membership loop; "
            "`WALDUR_SITE_AGENT_MEMBERSHIP_SYNC_PERIOD_MINUTES` overrides it."
        ),
        "reconciliation_period_minutes": (
            f"{OURS} Period of the reconciliation that backs up event processing; "
            "`WALDUR_SITE_AGENT_RECONCILIATION_PERIOD_MINUTES` overrides it."
        ),
        "command_timeout_seconds": f"{OURS} Time limit of one backend command (e.g. `sacctmgr`).",
        "state_dir": f"{OURS} Directory of the agent's own state (heartbeat, status).",
        "supervision": f"{OURS} Restart policy of the offering actors (see supervision keys).",
        "metrics": f"{OURS} Prometheus metrics, off by default (see metrics keys).",
    },
    Offering: {
        "name": "Label of the offering in logs and status.",
        "waldur_api_url": "Waldur Mastermind API URL, http(s); a trailing `/` is added.",
        "waldur_offering_uuid": "UUID of the offering in Waldur (from the offering page).",
        "waldur_api_token": (
            "Service provider token (`Authorization: Token ...`, also the STOMP passcode); "
            "required unless all three `oidc_*` keys are set."
        ),
        "oidc_token_url": "OIDC token endpoint for client-credentials login (token left empty).",
        "oidc_client_id": "OIDC client id, with `oidc_token_url`.",
        "oidc_client_secret": "OIDC client secret, with `oidc_token_url`.",
        "backend_type": (
            "Backend plugin (entry point name, case-insensitive); fills every unset role key "
            "below (upstream fills none: set the role keys to behave the same in both)."
        ),
        "order_processing_backend": "Plugin creating, updating and terminating resources.",
        "reporting_backend": "Plugin reporting usage.",
        "membership_sync_backend": "Plugin syncing project members, limits and resource status.",
        "username_management_backend": (
            "Username generation plugin; `base` (built in) makes names from people's names."
        ),
        "backend_settings": "Passed verbatim to the backend plugin; checked by its schema if any.",
        "backend_components": "Components by Waldur component type (see Component keys).",
        "stomp_enabled": "React to Waldur events over STOMP (event processing) for this offering.",
        "stomp_membership_sync_enabled": (
            "Membership changes by events too; unset follows `stomp_enabled`, false keeps "
            "membership on polling (every `membership_sync_period_minutes`) beside the events."
        ),
        "websocket_use_tls": "STOMP over TLS websockets.",
        "stomp_ws_host": "STOMP broker host; unset uses the Waldur API host.",
        "stomp_ws_port": "STOMP broker port; unset is 443 when `verify_ssl`, else 80.",
        "stomp_ws_path": "STOMP websocket path; unset is `/rmqws-stomp`.",
        "resource_import_enabled": "Offer backend resources for import into Waldur.",
        "username_reconciliation_enabled": "Pull backend-assigned usernames into Waldur.",
        "verify_ssl": "Verify the Waldur API's TLS certificate (also picks the STOMP port).",
        "omit_anomalous_usage_components": (
            "A component's usage below what Waldur holds for the month (a backend without "
            "`supports_decreasing_usage`): send the other components and drop only those, "
            "instead of holding back the resource's whole report (false, upstream's default)."
        ),
        "plugin_distributions": (
            f"{OURS} Plugin name -> the distribution that provides it, when several installed "
            "packages register the same name (`{mup: waldur-site-agent-mup}`); unpinned, this "
            "agent's own plugin wins, then the first distribution by name (docs/plugins.md)."
        ),
    },
    Component: {
        "measured_unit": "Unit shown in Waldur (e.g. `k-Hours`).",
        "accounting_type": "`usage`: metered; `limit`: a quota; `one`: one-time (prepaid).",
        "label": "Name shown in Waldur; defaults to the component key.",
        "unit_factor": (
            "Waldur-to-backend factor: backend = Waldur x factor (CPU k-Hours to SLURM "
            "CPU-minutes: 60000; GB-Hours to MB-minutes: 61440). Never sent to Waldur."
        ),
        "unit_factor_reporting": "Factor for usage reports instead of `unit_factor` (CSCS-DWDI).",
        "limit": "Fixed backend limit (in Waldur units) of a `usage` component.",
        "description": "Component description in Waldur.",
        "min_value": "Smallest value a customer may order.",
        "max_value": "Largest value a customer may order.",
        "max_available_limit": "Largest limit available in total.",
        "default_limit": "Limit proposed by default.",
        "limit_period": "Period a limit applies to.",
        "article_code": "Billing article code.",
        "is_boolean": "On/off component.",
        "is_prepaid": "Billed in advance.",
        "min_prepaid_duration": "Shortest prepaid duration.",
        "max_prepaid_duration": "Longest prepaid duration.",
        "prepaid_duration_step": "Step of the prepaid duration.",
        "min_renewal_duration": "Shortest renewal duration.",
        "max_renewal_duration": "Longest renewal duration.",
        "renewal_duration_step": "Step of the renewal duration.",
        "extra": (
            "Not a key: any other key of a component (e.g. `target_components`) is kept for the "
            "plugin and checked by its component schema."
        ),
    },
    LogShipping: {
        "enabled": "Ship the agent's log lines, masked, to Waldur "
        "(`marketplace-site-agent-logs`) under each offering's agent identity.",
        "ship_interval_seconds": "Seconds between shipments.",
        "buffer_size_mb": "Size of the buffer of lines waiting to be shipped; full, it drops "
        "its oldest lines.",
        "log_level": "Lowest level shipped, case-insensitive.",
    },
    BackendSettings: {
        "customer_prefix": "Prefix of customer account names (backends with an account tree).",
        "project_prefix": "Prefix of project account names (backends with an account tree).",
        "allocation_prefix": "Prefix of the resource's backend name.",
        "default_account": "Account users are linked to by default (SLURM's DefaultAccount).",
        "check_backend_id_uniqueness": "Ask Waldur whether a new backend name was ever used.",
        "check_all_offerings": "...in every offering of the customer, not only this one.",
        "backend_id_max_retries": "Names tried when a backend name is taken.",
        "soft_delete": "Terminate keeps the backend account (limits zeroed, users removed).",
        "enable_user_homedir_account_creation": "Make home directories for users.",
        "default_homedir_umask": "Umask of the home directories made.",
        "homedir_base_path": "Where home directories are (skip existing ones, quotas).",
        "homedir_quota": "Filesystem quota on new home directories.",
    },
    Supervision: {
        "max_restarts": "Restarts of one offering's actors allowed within `within_seconds`...",
        "within_seconds": "...after which the offering is FAILED: retried after this long, "
        "doubling up to an hour.",
        "backoff_initial_seconds": "Delay before the first restart; doubles on each next one.",
        "backoff_max_seconds": "Longest delay between restarts.",
    },
    Metrics: {
        "enabled": "Record Prometheus metrics and expose them (docs/monitoring.md); needs the "
        "`metrics` extra, which the packages include.",
        "listen_address": "Address the `/metrics` listener binds (loopback by default).",
        "listen_port": "Its port; `0`: no listener (then `textfile_directory` is needed).",
        "textfile_directory": "node_exporter textfile collector directory: "
        "`waldur_site_agent.prom` is rewritten there every 15 s.",
    },
}

SECTIONS: list[tuple[str, type[msgspec.Struct], str]] = [
    ("Root keys", AgentConfig, "The top level of the file."),
    ("Offering keys", Offering, "Each entry of `offerings`."),
    ("Component keys", Component, "Each value of an offering's `backend_components`."),
    ("log_shipping keys", LogShipping, "The `log_shipping` mapping at the top level."),
    (
        "Keys of every backend's settings",
        BackendSettings,
        "Keys upstream's core reads from the `backend_settings` of any backend. What a key does "
        "may differ per backend: the backend's table below says so where it does.",
    ),
    ("supervision keys", Supervision, f"The `supervision` mapping at the top level. {OURS}"),
    ("metrics keys", Metrics, f"The `metrics` mapping at the top level. {OURS}"),
]
# Each section's scope in config/keys.py, and the prefix of its keys there.
SCOPES: dict[type[msgspec.Struct], tuple[str, str]] = {
    AgentConfig: ("root", ""),
    Offering: ("offering", ""),
    Component: ("component", ""),
    LogShipping: ("root", "log_shipping."),
    Supervision: ("root", "supervision."),
    Metrics: ("root", "metrics."),
    BackendSettings: ("backend_settings", ""),
}
PLUGIN_DOCS = {
    "slurm": "slurm.md",
    "moab": "moab.md",
    "mup": "mup.md",
    "waldur": "federation.md",
    "ceph_s3": "croit-s3.md",
    "demo": "demo.md",
}

_BASIC = {str: "string", int: "integer", float: "number", bool: "boolean", Any: "any"}
_STRUCT_NAMES = {
    Offering: "offering",
    Component: "component",
    LogShipping: "log_shipping",
    Supervision: "supervision",
    Metrics: "metrics",
    BackendSettings: "backend settings",
}


def type_text(tp: Any) -> str:
    """An operator's reading of a field type: `number > 0`, `"usage" | "limit"`, `list of ...`."""
    origin = get_origin(tp)
    if origin is typing.Annotated:
        base, *metas = get_args(tp)
        bounds = []
        for meta in metas:
            for op, attr in ((">", "gt"), (">=", "ge"), ("<", "lt"), ("<=", "le")):
                value = getattr(meta, attr, None)
                if value is not None:
                    bounds.append(f"{op} {value:g}")
        return " ".join([type_text(base), " and ".join(bounds)]).strip()
    if origin in (typing.Union, types.UnionType):
        parts = [type_text(a) for a in get_args(tp) if a is not type(None)]
        text = " or ".join(parts)
        return f"{text}, optional" if type(None) in get_args(tp) else text
    if origin is Literal:
        return " | ".join(json.dumps(v) for v in get_args(tp))
    if origin is list:
        return f"list of {type_text(get_args(tp)[0])}"
    if origin is dict:
        value_type = get_args(tp)[1]
        return "mapping" if value_type is Any else f"mapping of {type_text(value_type)}"
    if tp in _STRUCT_NAMES:
        return _STRUCT_NAMES[tp]
    return _BASIC.get(tp, getattr(tp, "__name__", str(tp)))


def default_text(field: msgspec.structs.FieldInfo) -> str:
    if field.required:
        return "**required**"
    factory = field.default_factory
    value = field.default if field.default is not msgspec.NODEFAULT else factory()
    if value is None:
        return "unset"
    if isinstance(value, msgspec.Struct):
        return "(mapping)"
    if isinstance(value, float):
        return f"`{value:g}`"
    return f"`{json.dumps(value)}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def status_text(status: keys.Status | None) -> str:
    """A key's status as its table cell says it (config/keys.py)."""
    if isinstance(status, keys.Works):
        return f"works; test `{status.test}`"
    if isinstance(status, keys.Ours):
        return "ours"
    if isinstance(status, keys.Inert):
        return f"no effect, as upstream: {status.why}"
    if isinstance(status, keys.Refused):
        off = [json.dumps(o) for o in status.off if o is not None]
        loads = f"; loads when {' or '.join(off)} or absent" if off else "; loads when absent"
        return f"**refused when on**: {status.why}{loads}"
    if isinstance(status, keys.With):
        return f"read only with `{status.key}`, whose status it shares"
    return "**no status**"


def section(title: str, cls: type[msgspec.Struct], intro: str) -> list[str]:
    hints = typing.get_type_hints(cls, include_extras=True)
    descriptions = DESCRIPTIONS[cls]
    scope, prefix = SCOPES[cls]
    lines = [f"## {title}", "", intro, "", "| Key | Type | Default | Status | Description |"]
    lines.append("|---|---|---|---|---|")
    for field in msgspec.structs.fields(cls):
        extra = field.name == "extra"
        cells = [
            "*(other keys)*" if extra else f"`{field.name}`",
            _cell(type_text(hints[field.name])),
            "" if extra else _cell(default_text(field)),
            "" if extra else _cell(status_text(keys.status(scope, prefix + field.name))),
            _cell(descriptions[field.name]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def plugin_section(scope: str) -> list[str]:
    """A backend's own keys, and the shared ones it treats its own way: key and status; what
    each means is on the backend's page."""
    page = PLUGIN_DOCS.get(scope)
    names = [n for n, s in keys.SCOPE_OF_PLUGIN.items() if s == scope]
    lines = [f"### `{scope}`" + (f" (also {_names(names)})" if names else ""), ""]
    if page:
        lines += [f"What each key means: [{page}]({page}).", ""]
    for title, where in (("Settings", scope), ("Component keys", f"{scope} component")):
        entries = keys.KEYS.get(where, {})
        if entries:
            lines += [f"{title}:", "", "| Key | Status |", "|---|---|"]
            lines += [f"| `{k}` | {_cell(status_text(v))} |" for k, v in entries.items()]
            lines.append("")
    return lines


def _names(names: typing.Iterable[str]) -> str:
    return ", ".join(f"`{name}`" for name in names)


def render() -> str:
    env_lines = [f"- `{var}` sets `{key}`" for var, key in ENV_OVERRIDES.items()]
    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated by `python -m waldur_site_agent_actors.config.reference > docs/config.md`; "
        "do not edit by hand. A test fails when this file and the config Structs disagree. -->",
        "",
        "The agent reads upstream waldur-site-agent's YAML file unchanged, or the same keys in "
        "TOML (`.toml` extension). `waldur-site-agent validate -c FILE` lists every error with "
        "its path (`offerings[1].backend_components.cpu.unit_factor: ...`); unknown keys are "
        "warnings (`--strict` makes them errors). Root keys starting with `x-`, `_` or `.` hold "
        "YAML anchors and are not configuration. `waldur-site-agent config show` prints the "
        "loaded file with every secret masked, at any depth (backend settings included): keys "
        f"named {_names(sorted(SECRET_KEYS))}, or ending in {_names(SECRET_SUFFIXES)}. The same "
        "values are masked in every log line, and wherever else they appear: a token pasted "
        "under a key not named as a secret is masked too, and `validate` warns about it "
        "(`offerings[0].backend_settings.default_account: holds the secret value of "
        "offerings[0].waldur_api_token under a key not marked secret`); the password of any URL "
        "(`http://user:password@proxy:3128`) is masked as well. `waldur_api_url` must not carry "
        "credentials (`user:password@`): HTTP clients would send them instead of the token, so "
        "the file is refused.",
        "",
        "## Reading the file",
        "",
        f"A file that cannot be used is one message and exit 2, never a traceback: a directory, a "
        f"file the agent's user may not read, a YAML or TOML syntax error (`FILE:LINE:COLUMN: "
        f"YAML syntax error: ...`), a file over {MAX_BYTES // 1024} KiB (only that much is read), "
        f"more than {MAX_DEPTH} levels of nesting, or more than {MAX_VALUES:,} values once YAML "
        "aliases are expanded (a few KB of aliases can stand for billions of values). A key name "
        "that looks like a pasted token is hidden in messages. A file with no offering is an "
        "error. Errors and warnings come sorted by path; an unknown key suggests the nearest "
        "known one (`log_levl: unknown key (ignored); did you mean ...` names `log_level`). "
        "`config show --format toml` writes whole numbers as integers (`unit_factor = 60000`). "
        "`diagnostics` only looks (it creates no file, not even the demo backend's store), "
        "prints one line per check and a summary line, and exits 1 when a check failed.",
        "",
        "## Ours only",
        "",
        "These keys are not in upstream's format; upstream ignores them, so a file using them "
        "still runs there: `supervision`, the loop periods (`order_process_period_minutes`, "
        "`report_period_minutes`, `membership_sync_period_minutes`, "
        "`reconciliation_period_minutes`), `command_timeout_seconds` and `state_dir`.",
        "",
        "## Environment variables",
        "",
        "Upstream reads its loop periods from environment variables only. They keep working and "
        "override the file:",
        "",
        *env_lines,
        "",
        "## Status of each key",
        "",
        "Every key upstream waldur-site-agent 1.0.7 accepts is listed below, with what it does "
        "here; none is accepted and then ignored:",
        "",
        "- **works**: does what it does upstream; the named test shows it.",
        "- **refused when on** (no upstream 1.0.7 key has it today; it is how a key upstream "
        "adds is refused until it is built): upstream has it, this agent does not yet. A file "
        "with the key "
        "absent or at its off value loads, as upstream's files carry it; turned on, `validate` "
        "and `run` stop with an error naming the key, why, and what to do (`offerings[0]."
        "backend_settings.soft_delete: true is not supported by this agent yet (...); set it to "
        "false or remove it`). A key whose every value means on says it has no off value.",
        "- **no effect, as upstream**: upstream accepts it and it does nothing there either "
        "(for that backend); it loads and does nothing here too.",
        "- **ours**: not upstream's; upstream ignores it.",
        "",
        "The statuses live in one place, `config/keys.py`, one line per key, and these tables "
        "are generated from it. Implementing a key means changing its line, say "
        '`"soft_delete": refused("...")`, to `"soft_delete": works("tests/path.py::test_name")` '
        "naming the test that shows it, then regenerating this file. "
        "`tests/test_config_keys.py` fails when a field of a config Struct has no line, when an "
        "upstream 1.0.7 key (`tests/data/upstream-1.0.7-keys.txt`) has none, when a named test "
        "does not exist, and turns every refused key on in `tests/data/configs/upstream-every-"
        "key.yaml` (values from `tests/data/upstream-on-values.yaml`) to see it refused by name.",
        "",
    ]
    for title, cls, intro in SECTIONS:
        lines += section(title, cls, intro)
    lines += [
        "## Keys of each backend",
        "",
        "A backend's settings take the keys above and its own; a key it lists itself has the "
        "status it lists there.",
        "",
    ]
    for scope in sorted(keys.PLUGIN_SCOPES):
        lines += plugin_section(scope)
    options = keys.KEYS["plugin_options"].items()
    lines += [
        "## Offering options set in Waldur",
        "",
        "Read at run time from the offering's `plugin_options` in Waldur, not from this file.",
        "",
        "| Key | Status |",
        "|---|---|",
        *(f"| `{k}` | {_cell(status_text(v))} |" for k, v in options),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    print(render(), end="")


if __name__ == "__main__":
    main()
