"""What the mode children have in common: crash reporting, cycle reports, event acks."""

from __future__ import annotations

import contextlib
import logging
import time
import traceback
from types import TracebackType
from typing import Any

import pykka

from waldur_site_agent_actors.actors import messages as m
from waldur_site_agent_actors.actors.context import OfferingContext

BACKEND_TIMEOUT = 3600.0
"""Longest wait for one plugin call. Each CLI call inside it has its own, shorter timeout."""


class ModeActor(pykka.ThreadingActor):
    """One mode of one offering. An unexpected exception kills it and so its offering."""

    mode = "abstract"
    role = "order"

    def __init__(self, context: OfferingContext, backend: Any, parent: pykka.ActorRef[Any]):
        super().__init__()
        self.context = context
        self.offering = context.offering
        self.waldur = context.waldur
        self.backend = backend  # BackendActor proxy
        self.parent = parent
        self.log = logging.LoggerAdapter(
            logging.getLogger(f"actors.{self.mode}"), {"offering": self.offering.name}
        )

    def on_start(self) -> None:
        # pykka calls on_failure only for errors in messages, not in on_start: report it here.
        try:
            self.setup()
        except Exception as exc:
            self.log.exception("%s failed to start", self.mode)
            self.tell_parent(m.ChildDied(name=self.mode, error=f"{type(exc).__name__}: {exc}"))
            self.stop()

    def setup(self) -> None:
        """Per-mode start-up, in the actor's thread."""

    @property
    def stopping(self) -> bool:
        """The agent is shutting down: a sweep ends between items, the next start redoes it."""
        return self.context.stopping.is_set()

    @property
    def plugin(self) -> Any:
        """This mode's plugin, through the backend actor: every call returns a future."""
        return getattr(self.backend, self.role)

    def on_failure(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.tell_parent(
            m.ChildDied(name=self.mode, error=f"{exc_type.__name__ if exc_type else '?'}: {exc}")
        )

    def finished(self, error: str | None = None, summary: str = "") -> None:
        self.tell_parent(
            m.CycleFinished(mode=self.mode, finished_at=time.time(), error=error, summary=summary)
        )

    def tell_parent(self, message: m.Message) -> None:
        # The offering stops or restarts as a unit: a cycle may end after it is gone.
        with contextlib.suppress(pykka.ActorDeadError):
            self.parent.tell(message)

    @staticmethod
    def describe(exc: BaseException) -> tuple[str, str]:
        """The message and traceback an operator sees in Waldur for a failed operation."""
        return str(exc) or type(exc).__name__, "".join(traceback.format_exception(exc))
