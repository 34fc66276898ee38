"""Exposing the metrics (`metrics.enabled`): an HTTP `/metrics` listener, a node_exporter
textfile, or both (docs/monitoring.md).

prometheus_client is imported here only when the service starts an exporter; a config with
metrics off never reaches this module. The listener (agent/metrics_listener.py) answers scrapes
from a process of its own with the families rendered at most once a second: a scrape reads the
families, never an actor.
"""

from __future__ import annotations

import logging
import platform
import time
from pathlib import Path
from typing import Any

from waldur_site_agent_actors.actors import metrics
from waldur_site_agent_actors.agent.metrics_listener import Listener
from waldur_site_agent_actors.config import plugins
from waldur_site_agent_actors.config.model import AgentConfig, Metrics

log = logging.getLogger("agent.metrics")

TEXTFILE = "waldur_site_agent.prom"
TEXTFILE_EVERY = 15.0


class Exporter:
    """The running exposition of one `metrics` section; `stop` ends it."""

    def __init__(self, settings: Metrics, config: AgentConfig, release: str) -> None:
        self.settings = settings
        self.families = metrics.enable()
        self.families.build.info({"version": release, "python": platform.python_version()})
        describe_plugins(self.families.plugins, config)
        self.listener: Listener | None = None
        self.written = float("-inf")
        if settings.listen_port:
            try:
                self.listener = Listener(
                    settings.listen_address, settings.listen_port, self.families.registry
                )
            except OSError:
                metrics.disable()
                raise
            log.info("metrics at %s", self.url)
        self.tick()

    @property
    def url(self) -> str:
        host = self.settings.listen_address
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.settings.listen_port}/metrics"

    def tick(self) -> None:
        """Rewrite the textfile when it is due (the service's loop calls this every 2 s)."""
        directory = self.settings.textfile_directory
        if not directory or time.monotonic() - self.written < TEXTFILE_EVERY:
            return
        from prometheus_client import write_to_textfile

        self.written = time.monotonic()
        try:
            # Written to a temporary file and renamed: node_exporter never reads half a file.
            write_to_textfile(str(Path(directory) / TEXTFILE), self.families.registry)
        except OSError as exc:
            log.warning("cannot write the metrics textfile in %s: %s", directory, exc)

    def stop(self) -> None:
        if self.listener is not None:
            self.listener.stop()
        self.listener = None


def describe_plugins(gauge: Any, config: AgentConfig) -> None:
    """`plugin_info`: each plugin the offerings name, and the distribution that provides it."""
    seen: set[tuple[str, str, str]] = set()
    for offering in config.offerings:
        named = [offering.backend_for(role) for role in ("order", "report", "membership")]
        for group, name in [(plugins.BACKENDS, n) for n in named if n] + [
            (plugins.USERNAME_BACKENDS, offering.username_management_backend)
        ]:
            try:
                chosen = plugins.choose(group, name, offering.pinned_distribution(name)).chosen
            except Exception:  # noqa: S112 - not installed: the offering fails and says so
                continue
            seen.add((name, chosen.distribution, chosen.version))
    for labels in sorted(seen):
        gauge.labels(*labels).set(1)


def start(config: AgentConfig, release: str) -> Exporter | None:
    """The exporter `config.metrics` asks for, or None (nothing imported, nothing listens)."""
    if not config.metrics.enabled:
        metrics.disable()
        return None
    return Exporter(config.metrics, config, release)


def restart(current: Exporter | None, config: AgentConfig, release: str) -> Exporter | None:
    """A reload: the exporter of the new `metrics` section (the same one if unchanged)."""
    if current is not None and current.settings == config.metrics:
        current.families.plugins.clear()
        describe_plugins(current.families.plugins, config)
        return current
    if current is not None:
        current.stop()
        metrics.disable()
    return start(config, release)
