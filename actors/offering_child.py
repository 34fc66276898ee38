"""What the actors under an offering have in common: they report their death, and stop on time.

`OfferingChild` is the base of every actor an offering starts (the backend and Waldur actors,
the mode actors, the STOMP and target events actors): an unexpected exception, in a message or
in its start, reaches the offering as `ChildDied`, which goes through the supervisor's restart
policy like any other death; and a wait on another actor ends as soon as the offering stops.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any, TypeVar

import pykka

from waldur_site_agent_actors.actors import messages as m
from waldur_site_agent_actors.actors.context import OfferingContext

T = TypeVar("T")

BACKEND_TIMEOUT = 3600.0
"""Longest wait for one plugin call. Each CLI call inside it has its own, shorter timeout."""
WAIT_SLICE = 0.2
"""How often a wait on the backend looks whether the offering is stopping."""


class Cancelled(BaseException):
    """The offering is stopping: the work in hand is dropped, the next generation redoes it.

    A BaseException, as asyncio's CancelledError is, so that the `except Exception` around one
    order or resource does not take it for that item's failure (and mark the order erred).
    """


def reason(exc: BaseException | None) -> str:
    """One line for `status` and the logs: what killed an actor."""
    return f"{type(exc).__name__}: {exc}" if exc is not None else "unknown error"


def unfinished(futures: Mapping[str, pykka.Future[Any]], seconds: float) -> list[str]:
    """Names whose future is not set within `seconds` from now, all waited on together.

    `pykka.get_all` with one deadline for the lot, rather than a timeout for each, and telling
    which ones are late rather than raising at the first.
    """
    deadline = time.monotonic() + seconds
    late = []
    for name, future in futures.items():
        try:
            future.get(timeout=max(0.0, deadline - time.monotonic()))
        except pykka.Timeout:
            late.append(name)
        except Exception:  # noqa: S112 - a stop that failed has still ended
            continue
    return late


class OfferingChild(pykka.ThreadingActor):
    """An actor under an offering. Its death is its parent's business, never silent.

    pykka calls `on_failure` for an exception in a told message but nothing for one in
    `on_start`, and `on_stop` in neither case: both deaths are reported here, and `teardown`
    runs on every way out. Once the offering stops, `Cancelled` (from `wait`) or an error from
    an actor stopped under this one ends the message in hand quietly.
    """

    def __init__(self, context: OfferingContext, parent: pykka.ActorRef[Any], name: str) -> None:
        super().__init__()
        self.context = context
        self.offering = context.offering
        self.parent = parent
        self.name = name
        self.log = logging.LoggerAdapter(
            logging.getLogger(f"actors.{name.split(':')[0]}"), {"offering": self.offering.name}
        )

    def setup(self) -> None:
        """Start-up work, in the actor's own thread; an exception here is a death."""

    def teardown(self) -> None:
        """Release what the actor holds; runs once whichever way it ends."""

    def receive(self, message: Any) -> Any:
        """What `on_receive` is for other actors (proxy calls do not come here)."""
        return super().on_receive(message)

    @property
    def stopping(self) -> bool:
        """The offering is stopping: a sweep ends between items, the next start redoes it."""
        return self.context.stopping.is_set()

    def on_start(self) -> None:
        try:
            self.setup()
        except Cancelled:
            return  # stopped while starting: the stop message follows
        except Exception as exc:
            if self.stopping:
                return
            self.tell_parent(m.ChildDied(name=self.name, error=reason(exc)))
            self._teardown_quietly()
            raise  # pykka logs the traceback and stops this actor

    def on_receive(self, message: Any) -> Any:
        try:
            return self.receive(message)
        except Cancelled:
            self.log.debug("%s stopped mid-way: the offering is stopping", self.name)
        except Exception:
            if not self.stopping:
                raise
            # What it called was stopped under it: not a death, the offering is stopping.
            self.log.debug("%s stopped mid-way", self.name, exc_info=True)
        return None

    def on_stop(self) -> None:
        self.teardown()

    def on_failure(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.tell_parent(m.ChildDied(name=self.name, error=reason(exc)))
        self._teardown_quietly()

    def _teardown_quietly(self) -> None:
        try:
            self.teardown()
        except Exception:
            self.log.exception("%s: clean-up after its death failed", self.name)

    def tell_parent(self, message: m.Message) -> None:
        # The offering stops or restarts as a unit: a child may speak after it is gone.
        with contextlib.suppress(pykka.ActorDeadError):
            self.parent.tell(message)

    def wait(self, future: pykka.Future[T], timeout: float = BACKEND_TIMEOUT) -> T:
        """The result of a call to another actor; `Cancelled` as soon as the offering stops."""
        deadline = time.monotonic() + timeout
        while True:
            if self.stopping:
                raise Cancelled
            try:
                return future.get(timeout=min(WAIT_SLICE, max(0.0, deadline - time.monotonic())))
            except pykka.Timeout:
                if time.monotonic() >= deadline:
                    raise
            except pykka.ActorDeadError:
                if self.stopping:
                    raise Cancelled from None
                raise
