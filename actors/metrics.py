"""What the actors record for Prometheus: one call where a fact happens, in the actor that owns it.

Off until `enable()` (the service calls it when `metrics.enabled`): every recording function
returns at once and prometheus_client is never imported. Recording is prometheus_client's
thread-safe increment; the HTTP server's thread reads the values when scraped, so a scrape never
waits for an actor and no actor hands its state to anyone. Families and labels:
`actors/metric_families.py`, docs/monitoring.md.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from waldur_site_agent_actors.backends.exceptions import CommandTimeout

if TYPE_CHECKING:
    from waldur_site_agent_actors.actors.metric_families import Families

F = TypeVar("F", bound=Callable[..., Any])

_families: Families | None = None
_children: dict[tuple[str, tuple[str, ...]], Any] = {}
"""Series of the families recorded on every request or order, by family and label values:
prometheus_client's `labels()` takes a lock and checks the values on each call, which cost more
than the recording itself (~7 µs against ~3 µs for one Waldur request's three series)."""


def _series(family: str, *labels: str) -> Any:
    series = _children.get((family, labels))
    if series is None:
        series = _children[(family, labels)] = getattr(_families, family).labels(*labels)
    return series


def enable() -> Families:
    """The families, made on first use; recording starts now."""
    global _families
    if _families is None:
        from waldur_site_agent_actors.actors.metric_families import Families

        _families = Families()
    return _families


def disable() -> None:
    """Recording stops (a reload turned metrics off); a later `enable` starts afresh."""
    global _families
    _families = None
    _children.clear()


def enabled() -> bool:
    return _families is not None


# -- supervision -----------------------------------------------------------------------------------


def offering_state(offering: str, state: str) -> None:
    if _families is not None:
        from waldur_site_agent_actors.actors.metric_families import OFFERING_STATES

        for known in OFFERING_STATES:
            _families.offering_state.labels(offering, known).set(known == state.lower())


def offering_restarted(offering: str) -> None:
    if _families is not None:
        _families.restarts.labels(offering).inc()


def offering_removed(offering: str) -> None:
    """A reload dropped the offering: its state goes (its counters stay until the process ends)."""
    if _families is not None:
        from waldur_site_agent_actors.actors.metric_families import OFFERING_STATES

        for known in OFFERING_STATES:
            _families.offering_state.remove(offering, known)
        _families.usage_age.forget(offering)


# -- cycles ----------------------------------------------------------------------------------------


ORDER_TYPES = ("Create", "Update", "Terminate", "Restore")
ORDER_OUTCOMES = ("done", "erred", "rejected", "retried")


def mode_started(offering: str, mode: str, period: float) -> None:
    if _families is None:
        return
    _families.period.labels(offering, mode).set(period)
    if mode == "order_process":
        # Every order series exists from the start at 0: the first erred order is then an
        # increase Prometheus sees (`increase()` of a series born at 1 is 0).
        for kind in ORDER_TYPES:
            for outcome in ORDER_OUTCOMES:
                _families.orders.labels(offering, kind, outcome)


def cycle_finished(
    offering: str, mode: str, seconds: float, ok: bool, reconciliation: bool, fixed: int
) -> None:
    """One sweep ended. `reconciliation`: the sweep of a mode whose work comes as events;
    `fixed`: what it did that the events had not."""
    if _families is None:
        return
    _families.cycle_duration.labels(offering, mode).observe(seconds)
    _families.cycles.labels(offering, mode, "ok" if ok else "error").inc()
    if ok:
        _families.last_success.labels(offering, mode).set(time.time())
    if reconciliation:
        _families.sweeps.labels(offering, mode).inc()
        _families.fixes.labels(offering, mode).inc(fixed)


# -- orders ----------------------------------------------------------------------------------------


def order_handled(offering: str, order_type: str, outcome: str) -> None:
    """outcome: done, erred, rejected, or retried (left for a later cycle)."""
    if _families is not None:
        _series("orders", offering, order_type or "unknown", outcome).inc()


# -- backend ---------------------------------------------------------------------------------------


def timed(offering: str, plugin: str, operation: str, call: F) -> F:
    """`call` measured as a plugin operation when metrics are on; `call` itself when off."""
    families = _families
    if families is None:
        return call
    duration = families.backend_duration.labels(offering, plugin, operation)
    timeouts = families.backend_timeouts.labels(offering, plugin, operation)
    failures = families.backend_failures.labels(offering, plugin, operation)

    @functools.wraps(call)
    def measured(*args: Any, **kwargs: Any) -> Any:
        began = time.monotonic()
        try:
            return call(*args, **kwargs)
        except CommandTimeout:
            timeouts.inc()
            failures.inc()
            raise
        except Exception:
            failures.inc()
            raise
        finally:
            duration.observe(time.monotonic() - began)

    return measured  # type: ignore[return-value]


# -- Waldur ----------------------------------------------------------------------------------------


def waldur_answered(offering: str, method: str, status: int | None, seconds: float) -> None:
    """One attempt of a request; `status` None when no answer came (refused, reset, timeout)."""
    if _families is None:
        return
    status_class = f"{status // 100}xx" if status is not None else "unreachable"
    _series("waldur_requests", offering, method, status_class).inc()
    _series("waldur_duration", offering, method).observe(seconds)
    _series("waldur_reachable", offering).set(0 if status is None else 1)


def waldur_retrying(offering: str, method: str, delay: float) -> None:
    if _families is not None:
        _families.waldur_retries.labels(offering, method).inc()
        _families.waldur_backoff.labels(offering).inc(delay)


# -- events ----------------------------------------------------------------------------------------


def event_stream_expected(offering: str, stream: str) -> None:
    """The stream's actor started: its `connected` series exists (0) before any connection, so
    a stream that never connects is seen down."""
    if _families is not None:
        _families.stream_connected.labels(offering, stream)


def event_stream_changed(offering: str, stream: str, up: bool) -> None:
    """A connection of an event stream came up (or went down). stream: `waldur` (the events of
    the Waldur the offering serves) or `target` (the federation's target Waldur)."""
    if _families is not None:
        _families.stream_connected.labels(offering, stream).inc(1 if up else -1)


def event_stream_reconnected(offering: str, stream: str) -> None:
    if _families is not None:
        _families.reconnects.labels(offering, stream).inc()


def event_received(offering: str, stream: str) -> None:
    if _families is not None:
        _series("events_received", offering, stream).inc()


def event_acknowledged(offering: str, stream: str) -> None:
    if _families is not None:
        _series("events_acknowledged", offering, stream).inc()


# -- usage -----------------------------------------------------------------------------------------


def usage_sent(offering: str, components: int) -> None:
    """One resource's totals reached Waldur."""
    if _families is not None:
        _series("usage_resources", offering).inc()
        _series("usage_components", offering).inc(components)


def usage_refused(offering: str, reason: str) -> None:
    """reason: anomaly, backfill or waldur."""
    if _families is not None:
        _families.usage_refusals.labels(offering, reason).inc()


def usage_reported_up_to(offering: str, moment: float) -> None:
    """Everything the backend counted until `moment` is in Waldur (or nothing was, yet, and
    `moment` is when the usage actor started)."""
    if _families is not None:
        _families.usage_age.reported_up_to(offering, moment)
