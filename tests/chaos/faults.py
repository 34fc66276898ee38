"""What goes wrong during a chaos run, and how each fault is counted afterwards.

Waldur's faults are the simulator's seeded rules (docs/simulator.md): they are decided before a
request is handled, so a faulted request changed nothing, whoever sent it. The backend's are the
demo plugin's `fail_rate` (backends/demo/client.py), counted from its journal. The broker and
the agent process are hit from the test: `rabbitmq.restart()` and SIGKILL.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import requests

# Independent draws per request, in this order; together 1 - 0.93*0.95*0.96*0.97*0.97 = 20.1%.
HANG_SECONDS = 1.0
WALDUR_FAULTS: list[dict[str, Any]] = [
    {"error_rate": 0.07, "status": 500},
    {"error_rate": 0.05, "status": 503},
    {"error_rate": 0.04, "status": 429},
    # A proxy's idle timeout: no answer for a while, then the connection drops.
    {"hang": HANG_SECONDS, "hang_rate": 0.03},
    {"reset_rate": 0.03},
]

# Endpoints only the consumer (the test's workload) calls: their faults are not the agent's.
CONSUMER_ENDPOINTS = frozenset(
    {
        "POST /api/marketplace-orders/",
        "POST /api/marketplace-resources/{uuid}/update_limits/",
        "POST /api/marketplace-resources/{uuid}/terminate/",
    }
)


def inject_waldur_faults(sim: Any, seed: int) -> None:
    sim.faults.reseed(seed)
    for rule in WALDUR_FAULTS:
        sim.add_fault(endpoint="*", **rule)


def fault_kind(entry: dict[str, Any]) -> str | None:
    """The injected fault a request-log entry records, if any (answered 5xx/429, or no answer:
    a hang lasts `HANG_SECONDS`, a reset is immediate)."""
    status = entry["status"]
    if status == 0:
        return "timeout" if entry["ms"] >= HANG_SECONDS * 1000 * 0.9 else "reset"
    if status == 429:
        return "429"
    if status >= 500:
        return "5xx"
    return None


def waldur_faults(log: Iterable[dict[str, Any]]) -> tuple[Counter[str], Counter[str]]:
    """(faults the agent's requests met by kind, the agent's requests by endpoint)."""
    kinds: Counter[str] = Counter()
    endpoints: Counter[str] = Counter()
    for entry in log:
        if entry["endpoint"] in CONSUMER_ENDPOINTS:
            continue
        endpoints[entry["endpoint"]] += 1
        kind = fault_kind(entry)
        if kind:
            kinds[kind] += 1
    return kinds, endpoints


def retried(call: Callable[..., Any], *args: Any, attempts: int = 30) -> Any:
    """A consumer call through the faults: an injected fault changed nothing, so sending the
    same request again is safe. Real refusals (4xx) are raised."""
    for attempt in range(attempts):
        try:
            return call(*args)
        except requests.RequestException:
            pass
        except RuntimeError as exc:  # ConsumerClient's "HTTP <status>: <body>"
            if "Injected fault" not in str(exc):
                raise
        time.sleep(min(0.05 * 2**attempt, 0.5))
    raise AssertionError(f"{call!r} failed {attempts} times in a row")


class BrokerRestarts:
    """Restarts RabbitMQ in a background thread, so orders keep flowing while it is down."""

    def __init__(self, rabbitmq: Any) -> None:
        self.rabbitmq = rabbitmq
        self.done = 0
        self.errors: list[BaseException] = []
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.wait()
        self._thread = threading.Thread(target=self._restart, name="broker-restart")
        self._thread.start()

    def _restart(self) -> None:
        try:
            self.rabbitmq.restart()
            self.done += 1
        except BaseException as exc:  # reported by wait(), in the test's thread
            self.errors.append(exc)

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join(timeout=600)
        if self.errors:
            raise self.errors[0]


def kill_and_restart(agent: Any) -> None:
    """SIGKILL: no cleanup at all, mid-way through whatever the agent was doing."""
    assert agent.stop(signal.SIGKILL) == -signal.SIGKILL
    agent.start()
