"""Fault injection and counters: per-endpoint error rates, latency, hangs, resets, rewritten
answers; request log.

Rules match an endpoint key `"METHOD /api/path/{uuid}/template/"` (or `"*"`, or a method-less
template) and are drawn from one seeded RNG, so the same seed and request order give the same
faults.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from typing import Any

LOG_SIZE = 10000


@dataclass
class Fault:
    endpoint: str = "*"  # "*", "GET /api/x/", "/api/x/{uuid}/" (any method)
    error_rate: float = 0.0  # probability of answering `status`
    status: int = 500
    retry_after: float | None = None  # seconds, sent with 429/503
    latency: float = 0.0  # seconds added before handling
    hang: float = 0.0  # > 0: keep the connection silent this long, then drop it
    hang_rate: float = 1.0  # probability that a matching request hangs (when hang > 0)
    reset_rate: float = 0.0  # probability of resetting the connection without an answer
    times: int | None = None  # stop after this many injected faults
    rewrite: dict[str, str] = field(default_factory=dict)  # old -> new text in answered bodies:
    # a server answering what is not quite JSON (`"cpu": 7` -> `"cpu": NaN`)

    def matches(self, key: str) -> bool:
        if self.endpoint == "*":
            return True
        return key == self.endpoint or key.split(" ", 1)[-1] == self.endpoint


@dataclass
class Decision:
    latency: float = 0.0
    status: int | None = None
    retry_after: float | None = None
    hang: float = 0.0
    reset: bool = False
    rewrite: dict[str, str] = field(default_factory=dict)


@dataclass
class Faults:
    seed: int = 0
    rules: list[Fault] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)  # noqa: S311 - simulation, not crypto
        self._lock = threading.Lock()

    def add(self, **spec: Any) -> Fault:
        rule = Fault(**spec)
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def reseed(self, seed: int) -> None:
        with self._lock:
            self.seed = seed
            self._rng.seed(seed)

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(r) for r in self.rules]

    def decide(self, key: str) -> Decision:
        decision = Decision()
        with self._lock:
            for rule in self.rules:
                if not rule.matches(key) or rule.times == 0:
                    continue
                decision.latency += rule.latency
                decision.rewrite.update(rule.rewrite)
                injected = False
                if rule.reset_rate and self._rng.random() < rule.reset_rate:
                    decision.reset = injected = True
                elif rule.hang and self._rng.random() < rule.hang_rate:
                    decision.hang = max(decision.hang, rule.hang)
                    injected = True
                elif rule.error_rate and self._rng.random() < rule.error_rate:
                    decision.status, decision.retry_after = rule.status, rule.retry_after
                    injected = True
                if injected and rule.times is not None:
                    rule.times -= 1
        return decision


class Counters:
    """Per-endpoint request counts and a bounded request log."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.log: deque[dict[str, Any]] = deque(maxlen=LOG_SIZE)

    def record(self, key: str, path: str, status: int, seconds: float) -> None:
        with self._lock:
            self.counts[key] += 1
            method = key.split(" ", 1)[0]
            self.log.append(
                {
                    "time": time.time(),
                    "method": method,
                    "path": path,
                    "endpoint": key,
                    "status": status,
                    "ms": round(seconds * 1000, 3),
                }
            )

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)

    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.log)

    def total(self, prefix: str = "") -> int:
        with self._lock:
            return sum(n for key, n in self.counts.items() if key.startswith(prefix))

    def reset(self) -> None:
        with self._lock:
            self.counts.clear()
            self.log.clear()
