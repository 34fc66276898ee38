"""Upstream plugins' log lines, as this agent's: plain records through its handlers.

Upstream's core configures structlog to hand `logging` an event dictionary for its JSON renderer;
through this agent's handlers that would print as a dict, past the secret filter's reach. Here
structlog formats the message and passes the rest as `extra`, so each line reads like the
agent's own and is masked like them. httpx names every URL it requests at INFO; upstream quiets
it, and so does this.
"""

from __future__ import annotations

import logging
from functools import cache

import structlog


@cache
def plain_logging() -> None:
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.render_to_log_kwargs,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
