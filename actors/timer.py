"""Tells actors a message on a schedule. pykka has no timers, and no actor may sleep in a loop."""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from typing import Any

import pykka

log = logging.getLogger("actors.timer")


class Timer:
    """One thread for every schedule of the process; a tell to a dead actor cancels its entry."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, pykka.ActorRef[Any], Any, float | None]] = []
        self._cancelled: set[int] = set()
        self._ids = itertools.count()
        self._wake = threading.Condition()
        self._running = True
        self._thread = threading.Thread(target=self._run, name="timer", daemon=True)
        self._thread.start()

    def once(self, ref: pykka.ActorRef[Any], message: Any, delay: float) -> int:
        return self._add(ref, message, delay, None)

    def every(
        self, ref: pykka.ActorRef[Any], message: Any, period: float, first: float = 0.0
    ) -> int:
        return self._add(ref, message, first, period)

    def cancel(self, handle: int) -> None:
        with self._wake:
            self._cancelled.add(handle)

    def cancel_all(self, handles: list[int]) -> None:
        with self._wake:
            self._cancelled.update(handles)

    def stop(self) -> None:
        with self._wake:
            self._running = False
            self._wake.notify()
        self._thread.join(timeout=5)

    def _add(
        self, ref: pykka.ActorRef[Any], message: Any, delay: float, period: float | None
    ) -> int:
        handle = next(self._ids)
        with self._wake:
            heapq.heappush(self._heap, (time.monotonic() + delay, handle, ref, message, period))
            self._wake.notify()
        return handle

    def _run(self) -> None:
        while True:
            with self._wake:
                while self._running and (not self._heap or self._heap[0][0] > time.monotonic()):
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._wake.wait(timeout)
                if not self._running:
                    return
                due, handle, ref, message, period = heapq.heappop(self._heap)
                if handle in self._cancelled:
                    self._cancelled.discard(handle)
                    continue
                if period is not None:
                    # Fixed rate from the previous due time, but never a burst of catch-up ticks.
                    next_due = max(due + period, time.monotonic())
                    heapq.heappush(self._heap, (next_due, handle, ref, message, period))
            try:
                ref.tell(message)
            except pykka.ActorDeadError:
                self.cancel(handle)
