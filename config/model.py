"""The configuration file, declared once.

Every key of the upstream YAML format is a field here, with upstream's default, so an operator's
existing file loads unchanged. Keys that are ours alone are marked as such in their docstring
line in docs/config.md (generated from these Structs).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from waldur_site_agent_actors.config.homedirs import BasePath, HomedirQuota
from waldur_site_agent_actors.config.plugins import canonical

PositiveNumber = Annotated[float, Meta(gt=0)]
PositiveMinutes = Annotated[float, Meta(gt=0)]
Mode = Literal["order_process", "report", "membership_sync", "event_process"]
MODES: tuple[Mode, ...] = ("order_process", "report", "membership_sync", "event_process")

AccountingType = Literal["usage", "limit", "one"]
LimitPeriod = Literal["annual", "month", "quarterly", "total"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
Umask = Annotated[str, Meta(pattern=r"^0?[0-7]{3}$")]


class Component(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One entry of `backend_components`: how a Waldur component maps to the backend."""

    accounting_type: AccountingType
    # Upstream requires these two, but the seeds' examples (Croit S3) leave them out and must
    # load; only registering components in Waldur needs them (the label defaults to the key).
    measured_unit: str = ""
    label: str = ""
    unit_factor: PositiveNumber = 1.0
    unit_factor_reporting: PositiveNumber | None = None
    limit: Annotated[float, Meta(ge=0)] | None = None
    description: str | None = None
    min_value: int | None = None
    max_value: int | None = None
    max_available_limit: int | None = None
    default_limit: int | None = None
    limit_period: LimitPeriod | None = None
    article_code: str | None = None
    is_boolean: bool | None = None
    is_prepaid: bool | None = None
    min_prepaid_duration: int | None = None
    max_prepaid_duration: int | None = None
    prepaid_duration_step: int | None = None
    min_renewal_duration: int | None = None
    max_renewal_duration: int | None = None
    renewal_duration_step: int | None = None
    # Plugins declare more keys per component (e.g. the federation's `target_components`); they
    # are validated by the plugin's component schema, and kept here verbatim.
    extra: dict[str, Any] = msgspec.field(default_factory=dict)


class Offering(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One entry of `offerings`: a Waldur offering served by this agent."""

    name: str
    waldur_api_url: str
    waldur_offering_uuid: str
    waldur_api_token: str = ""
    oidc_token_url: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    backend_type: str = ""
    order_processing_backend: str = ""
    reporting_backend: str = ""
    membership_sync_backend: str = ""
    username_management_backend: str = "base"
    backend_settings: dict[str, Any] = msgspec.field(default_factory=dict)
    backend_components: dict[str, Component] = msgspec.field(default_factory=dict)
    stomp_enabled: bool = False
    stomp_membership_sync_enabled: bool | None = None
    websocket_use_tls: bool = True
    stomp_ws_host: str | None = None
    stomp_ws_port: Annotated[int, Meta(ge=1, le=65535)] | None = None
    stomp_ws_path: str | None = None
    resource_import_enabled: bool = False
    username_reconciliation_enabled: bool = False
    verify_ssl: bool = True
    omit_anomalous_usage_components: bool = False
    plugin_distributions: dict[str, str] = msgspec.field(default_factory=dict)

    def backend_for(self, role: Literal["order", "report", "membership"]) -> str:
        """The plugin serving one role; the legacy `backend_type` fills an unset role."""
        explicit = {
            "order": self.order_processing_backend,
            "report": self.reporting_backend,
            "membership": self.membership_sync_backend,
        }[role]
        return (explicit or self.backend_type).lower()

    def pinned_distribution(self, name: str) -> str | None:
        """The distribution `plugin_distributions` names for plugin `name`, if any."""
        pins = {canonical(key): value for key, value in self.plugin_distributions.items()}
        return pins.get(canonical(name))

    @property
    def periodic_limits_enabled(self) -> bool:
        """Upstream's switch for `resource_periodic_limits` events (the SLURM plugin's key)."""
        periodic = self.backend_settings.get("periodic_limits")
        return isinstance(periodic, dict) and periodic.get("enabled") is True

    @property
    def membership_on_stomp(self) -> bool:
        if self.stomp_membership_sync_enabled is None:
            return self.stomp_enabled
        return self.stomp_membership_sync_enabled and self.stomp_enabled


class BackendSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Keys upstream's core reads from the `backend_settings` of every backend, whatever the
    plugin: each plugin's settings Struct extends this one, so upstream's files load with any
    backend. What each key does with each backend is in config/keys.py."""

    customer_prefix: str = ""
    project_prefix: str = ""
    allocation_prefix: str = ""
    default_account: str | None = None
    check_backend_id_uniqueness: bool = False
    check_all_offerings: bool = False
    backend_id_max_retries: Annotated[int, Meta(ge=1, le=1000)] = 50
    soft_delete: bool = False
    enable_user_homedir_account_creation: bool | None = None
    default_homedir_umask: Umask = "0077"
    homedir_base_path: BasePath | None = None
    """Home directories are `<base>/<user>`: one that exists is not created again, and quotas
    go on that path."""
    homedir_quota: HomedirQuota | None = None


class LogShipping(msgspec.Struct, kw_only=True, omit_defaults=True):
    enabled: bool = False
    ship_interval_seconds: Annotated[int, Meta(ge=10)] = 60
    buffer_size_mb: Annotated[int, Meta(ge=1)] = 1
    log_level: LogLevel = "WARNING"


class Supervision(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Ours: restart policy of the offering actors (OTP one_for_one with intensity)."""

    max_restarts: Annotated[int, Meta(ge=0)] = 5
    within_seconds: PositiveNumber = 300.0
    backoff_initial_seconds: PositiveNumber = 1.0
    backoff_max_seconds: PositiveNumber = 60.0


class Metrics(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Ours: Prometheus metrics (docs/monitoring.md). Off unless `enabled`: then nothing listens
    and prometheus_client is never imported."""

    enabled: bool = False
    listen_address: str = "127.0.0.1"
    """Where the `/metrics` listener binds; loopback unless a remote Prometheus must reach it."""
    listen_port: Annotated[int, Meta(ge=0, le=65535)] = 9817
    """`0`: no listener, for sites that open no port (then `textfile_directory` is needed)."""
    textfile_directory: str | None = None
    """node_exporter's textfile collector directory: `waldur_site_agent.prom` is rewritten
    there every 15 s."""


class AgentConfig(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The root of the configuration file."""

    offerings: list[Offering]
    sentry_dsn: str | None = None
    elastic_apm_server_url: str | None = None
    timezone: str = "UTC"
    global_proxy: str = ""
    log_level: LogLevel = "INFO"
    reporting_periods: Annotated[int, Meta(ge=1, le=12)] = 2
    expose_backend_error_details: bool = True
    log_shipping: LogShipping = msgspec.field(default_factory=LogShipping)
    # Ours: upstream reads these periods from environment variables only; both work here and the
    # environment wins, as it did upstream.
    order_process_period_minutes: PositiveMinutes = 5.0
    report_period_minutes: PositiveMinutes = 30.0
    membership_sync_period_minutes: PositiveMinutes = 5.0
    reconciliation_period_minutes: PositiveMinutes = 60.0
    command_timeout_seconds: PositiveNumber = 60.0
    state_dir: str = "/var/lib/waldur-site-agent"
    supervision: Supervision = msgspec.field(default_factory=Supervision)
    metrics: Metrics = msgspec.field(default_factory=Metrics)


SECRET_KEYS = frozenset(
    {
        "waldur_api_token",
        "oidc_client_secret",
        "password",
        "token",
        "secret",
        "secret_key",
        "api_key",
        "target_api_token",
        "admin_secret_key",
        "sentry_dsn",
    }
)
"""Keys whose values are never printed, at any depth of the config (backend settings included)."""
