"""The agent's Prometheus metric families, in a registry of their own (docs/monitoring.md).

Imported only once metrics are on (`actors/metrics.py: enable`): prometheus_client is an
optional extra. Labels are the offering's name, the mode and small fixed sets (order type,
outcome, plugin, operation, HTTP method, status class); never a token, a user or a resource
name, so the number of series stays bounded by the config.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

PREFIX = "waldur_site_agent"
OFFERING_STATES = ["starting", "running", "stopping", "backoff", "failed"]
CYCLE_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600)
CALL_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300)


class UsageAge(Collector):
    """`usage_oldest_unreported_age_seconds`: the age of the oldest usage Waldur does not have
    yet, that is the time since the last report cycle that delivered everything (usage goes on
    accruing on the backend from that moment). Computed when scraped, from the moment the usage
    actor set."""

    def __init__(self) -> None:
        self._since: dict[str, float] = {}
        self._lock = threading.Lock()

    def reported_up_to(self, offering: str, moment: float) -> None:
        with self._lock:
            self._since[offering] = moment

    def forget(self, offering: str) -> None:
        with self._lock:
            self._since.pop(offering, None)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            f"{PREFIX}_usage_oldest_unreported_age_seconds",
            "Seconds since the last report cycle that delivered every resource's usage",
            labels=["offering"],
        )
        now = time.time()
        with self._lock:
            for offering, since in self._since.items():
                family.add_metric([offering], max(0.0, now - since))
        yield family


class Families:
    """Every metric family of the agent, registered in `registry`."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        ProcessCollector(registry=registry)  # process_start_time_seconds, CPU, memory
        PlatformCollector(registry=registry)  # python_info
        self.build = Info(f"{PREFIX}_build", "The agent's version", registry=registry)
        self.plugins = Gauge(
            f"{PREFIX}_plugin_info",
            "A plugin an offering uses, with the distribution and version providing it (1)",
            ["plugin", "distribution", "version"],
            registry=registry,
        )
        # supervision
        self.offering_state = Gauge(
            f"{PREFIX}_offering_state",
            "1 for the offering's supervision state, 0 for the others (backoff: waiting to "
            "restart)",
            ["offering", "state"],
            registry=registry,
        )
        self.restarts = Counter(
            f"{PREFIX}_offering_restarts",
            "Generations of the offering that died and were restarted (or given up)",
            ["offering"],
            registry=registry,
        )
        # cycles
        self.cycle_duration = Histogram(
            f"{PREFIX}_cycle_duration_seconds",
            "How long one sweep of a mode took",
            ["offering", "mode"],
            buckets=CYCLE_BUCKETS,
            registry=registry,
        )
        self.cycles = Counter(
            f"{PREFIX}_cycles",
            "Sweeps of a mode, by outcome (ok, error)",
            ["offering", "mode", "outcome"],
            registry=registry,
        )
        self.last_success = Gauge(
            f"{PREFIX}_last_successful_cycle_timestamp_seconds",
            "When a sweep of the mode last ended without error (Unix time)",
            ["offering", "mode"],
            registry=registry,
        )
        self.period = Gauge(
            f"{PREFIX}_cycle_period_seconds",
            "The mode's configured sweep period",
            ["offering", "mode"],
            registry=registry,
        )
        # orders
        self.orders = Counter(
            f"{PREFIX}_orders",
            "Orders handled, by type and outcome (done, erred, rejected, retried)",
            ["offering", "type", "outcome"],
            registry=registry,
        )
        # backend
        self.backend_duration = Histogram(
            f"{PREFIX}_backend_operation_duration_seconds",
            "How long one plugin operation (its commands or API calls) took",
            ["offering", "plugin", "operation"],
            buckets=CALL_BUCKETS,
            registry=registry,
        )
        self.backend_timeouts = Counter(
            f"{PREFIX}_backend_operation_timeouts",
            "Plugin operations ended by a command timeout",
            ["offering", "plugin", "operation"],
            registry=registry,
        )
        self.backend_failures = Counter(
            f"{PREFIX}_backend_operation_failures",
            "Plugin operations that raised an error (timeouts included)",
            ["offering", "plugin", "operation"],
            registry=registry,
        )
        # Waldur
        self.waldur_requests = Counter(
            f"{PREFIX}_waldur_requests",
            "HTTP requests to Waldur (each attempt), by method and status class "
            "(2xx, 4xx, 5xx, unreachable)",
            ["offering", "method", "status_class"],
            registry=registry,
        )
        self.waldur_retries = Counter(
            f"{PREFIX}_waldur_retries",
            "Requests to Waldur sent again after a transient failure",
            ["offering", "method"],
            registry=registry,
        )
        self.waldur_duration = Histogram(
            f"{PREFIX}_waldur_request_duration_seconds",
            "How long one request to Waldur took (each attempt)",
            ["offering", "method"],
            buckets=CALL_BUCKETS,
            registry=registry,
        )
        self.waldur_backoff = Counter(
            f"{PREFIX}_waldur_retry_wait_seconds",
            "Time spent waiting before retrying a request to Waldur",
            ["offering"],
            registry=registry,
        )
        self.waldur_reachable = Gauge(
            f"{PREFIX}_waldur_reachable",
            "1 when the last request to Waldur got an answer, 0 when it could not connect",
            ["offering"],
            registry=registry,
        )
        # events
        self.stream_connected = Gauge(
            f"{PREFIX}_event_stream_connected",
            "Event stream (STOMP) connections up",
            ["offering", "stream"],
            registry=registry,
        )
        self.events_received = Counter(
            f"{PREFIX}_event_messages_received",
            "Messages received from the event stream",
            ["offering", "stream"],
            registry=registry,
        )
        self.events_acknowledged = Counter(
            f"{PREFIX}_event_messages_acknowledged",
            "Messages acknowledged to the broker once handled",
            ["offering", "stream"],
            registry=registry,
        )
        self.reconnects = Counter(
            f"{PREFIX}_event_stream_reconnects",
            "Event stream connections made again after a loss or a failed attempt",
            ["offering", "stream"],
            registry=registry,
        )
        self.sweeps = Counter(
            f"{PREFIX}_reconciliation_sweeps",
            "Sweeps run as the reconciliation of an event-driven mode",
            ["offering", "mode"],
            registry=registry,
        )
        self.fixes = Counter(
            f"{PREFIX}_reconciliation_fixes",
            "What reconciliation sweeps did that events had not (orders finished)",
            ["offering", "mode"],
            registry=registry,
        )
        # usage
        self.usage_resources = Counter(
            f"{PREFIX}_usage_resources_reported",
            "Resources whose usage totals were sent to Waldur",
            ["offering"],
            registry=registry,
        )
        self.usage_components = Counter(
            f"{PREFIX}_usage_components_sent",
            "Component usages sent to Waldur",
            ["offering"],
            registry=registry,
        )
        self.usage_refusals = Counter(
            f"{PREFIX}_usage_refusals",
            "Usage not sent, by reason (anomaly: it went down; backfill: Waldur takes no past "
            "month from this token; waldur: Waldur refused or could not be reached)",
            ["offering", "reason"],
            registry=registry,
        )
        self.usage_age = UsageAge()
        registry.register(self.usage_age)
