"""`run`: the long-running service."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from agent import logs
from agent.cli import EXIT_FAILURE
from config import AgentConfig
from config.secrets import secret_values

log = logging.getLogger("agent.service")


def run_service(config: AgentConfig, modes: Sequence[str] | None = None) -> int:
    logs.setup(config.log_level, secret_values(config))
    log.error(
        "the actor runtime that runs the modes (%s) is not part of this build yet; "
        "use `validate` and `diagnostics`",
        ", ".join(modes or ("all",)),
    )
    return EXIT_FAILURE
