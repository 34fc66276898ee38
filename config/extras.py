"""Keys served by an optional extra of the package: an http(s) URL (or `metrics.enabled`), and
the extra installed.

Checked at load, so `validate` refuses the key by name where `run` could not honour it. Finding
the module does not import it: a config without these keys pays nothing.
"""

from __future__ import annotations

import importlib.util
from typing import Any
from urllib.parse import urlsplit

from waldur_site_agent_actors.config.validate import Problems

EXTRAS = {
    "sentry_dsn": ("sentry_sdk", "sentry", "sentry-sdk"),
    "elastic_apm_server_url": ("elasticapm", "elastic-apm", "elastic-apm"),
}
"""Key -> (module it needs, the extra that installs it, that extra's distribution)."""


def check_extras(raw: dict[str, Any], problems: Problems) -> None:
    check_metrics(raw.get("metrics"), problems)
    for key, (module, extra, distribution) in EXTRAS.items():
        value = raw.get(key)
        if not isinstance(value, str) or not value:
            continue  # absent, "" or null: off, as upstream
        try:
            url = urlsplit(value)
            usable = url.scheme in ("http", "https") and bool(url.hostname)
        except ValueError:
            usable = False
        if not usable:
            problems.error(key, "expected an http(s) URL")  # never echoed: it may hold a key
        elif importlib.util.find_spec(module) is None:
            problems.error(
                key,
                f"needs {distribution}, which is not installed: install the agent with its "
                f"`{extra}` extra (pip install 'waldur-site-agent-actors[{extra}]'), or remove "
                "the key",
            )


def check_metrics(metrics: Any, problems: Problems) -> None:
    """`metrics.enabled` needs the `metrics` extra, and somewhere to expose the metrics."""
    if not isinstance(metrics, dict) or metrics.get("enabled") is not True:
        return
    if importlib.util.find_spec("prometheus_client") is None:
        problems.error(
            "metrics.enabled",
            "needs prometheus-client, which is not installed: install the agent with its "
            "`metrics` extra (pip install 'waldur-site-agent-actors[metrics]'), or turn it off",
        )
    if metrics.get("listen_port") == 0 and not metrics.get("textfile_directory"):
        problems.error(
            "metrics.listen_port",
            "0 turns the listener off, and no textfile_directory is set: the metrics would "
            "reach no one",
        )
