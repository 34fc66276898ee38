"""Keys served by an optional extra of the package: an http(s) URL, and the extra installed.

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
