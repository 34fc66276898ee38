"""Error tracking: Sentry (`sentry_dsn`) and Elastic APM (`elastic_apm_server_url`), as upstream.

Each is an optional extra (`pip install 'waldur-site-agent-actors[sentry]'`, `[elastic-apm]`),
imported only when its key is set, so commands without them start as fast as before; a config
naming one whose extra is missing is refused by `validate` (config/extras.py). ERROR log lines
and the exceptions they carry become events. Nothing secret leaves: every string of an event
passes the same masking as the log lines (the config's secrets, and the value of any URL query
parameter named like a secret), and no frame's local variables are collected.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from waldur_site_agent_actors.agent import logs
from waldur_site_agent_actors.config import AgentConfig

SERVICE_NAME = "waldur-site-agent"
SECRET_QUERY = re.compile(
    r"\b((?:secret|api|access)[-_]?key|token|password|passcode)=[^&\s\"']+", re.IGNORECASE
)


def start(config: AgentConfig, release: str) -> None:
    if config.sentry_dsn:
        _start_sentry(config.sentry_dsn, release)
    if config.elastic_apm_server_url:
        _start_apm(config.elastic_apm_server_url, release)


def masked(value: Any) -> Any:
    """A copy of an event (nested dicts, lists, strings) with every secret masked."""
    if isinstance(value, str):
        return SECRET_QUERY.sub(r"\1=" + "***", logs.mask(value))
    if isinstance(value, dict):
        return {key: masked(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [masked(item) for item in value]
    return value


def _start_sentry(dsn: str, release: str) -> None:
    import sentry_sdk

    sentry_sdk.init(
        dsn=dsn,
        release=release,
        send_default_pii=False,
        include_local_variables=False,
        before_send=lambda event, hint: masked(event),
        before_breadcrumb=lambda crumb, hint: masked(crumb),
    )


def _start_apm(server_url: str, release: str) -> None:
    import elasticapm

    client = elasticapm.Client(
        service_name=SERVICE_NAME,
        service_version=release,
        server_url=server_url,
        collect_local_variables="off",
        processors=[*elasticapm.conf.Config().processors, f"{__name__}.masked_apm_event"],
    )
    elasticapm.instrument()
    logs.keep(ApmHandler(client))


def masked_apm_event(client: Any, event: dict[str, Any]) -> dict[str, Any]:
    """An Elastic APM processor (named in the client's `processors`)."""
    result: dict[str, Any] = masked(event)
    return result


class ApmHandler(logging.Handler):
    """ERROR log lines (and their exceptions) to Elastic APM, as Sentry's logging does."""

    def __init__(self, client: Any) -> None:
        super().__init__(logging.ERROR)
        self.client = client

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if record.exc_info and record.exc_info[0] is not None:
                self.client.capture_exception(
                    exc_info=record.exc_info, custom={"message": record.getMessage()}
                )
            else:
                self.client.capture_message(
                    record.getMessage(), level=record.levelname.lower(), logger_name=record.name
                )
        except Exception:
            self.handleError(record)
