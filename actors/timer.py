"""Tells actors a message after a delay. pykka has no timers, and no actor may sleep in a loop.

Only one-shot entries: periodic work re-arms itself when a cycle ends (fixed delay), so a cycle
slower than its period never queues a second tick behind it.
"""

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
    """One thread for every schedule of the process; a tell to a dead actor is dropped."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, pykka.ActorRef[Any], Any]] = []
        self._pending: set[int] = set()
        self._ids = itertools.count()
        self._wake = threading.Condition()
        self._running = True
        self._thread = threading.Thread(target=self._run, name="timer", daemon=True)
        self._thread.start()

    def once(self, ref: pykka.ActorRef[Any], message: Any, delay: float) -> int:
        """Tell `ref` the `message` in `delay` seconds; returns a handle to cancel it with."""
        handle = next(self._ids)
        with self._wake:
            heapq.heappush(self._heap, (time.monotonic() + delay, handle, ref, message))
            self._pending.add(handle)
            self._wake.notify()
        return handle

    def cancel(self, handle: int) -> bool:
        """True when the entry was still waiting; False when it fired (or was cancelled)."""
        with self._wake:
            if handle not in self._pending:
                return False
            self._pending.discard(handle)
            return True

    def stop(self) -> None:
        with self._wake:
            self._running = False
            self._wake.notify()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._wake:
                while self._running and (not self._heap or self._heap[0][0] > time.monotonic()):
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._wake.wait(timeout)
                if not self._running:
                    return
                _, handle, ref, message = heapq.heappop(self._heap)
                if handle not in self._pending:
                    continue  # cancelled
                self._pending.discard(handle)
            try:
                ref.tell(message)
            except pykka.ActorDeadError:
                log.debug("%s is gone; %s dropped", ref, type(message).__name__)
