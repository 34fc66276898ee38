"""Logging: one line per record, `key=value` context, every configured secret masked."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

from waldur_site_agent_actors.config.secrets import SecretFilter

FORMAT = "%(asctime)s %(levelname)s %(name)s [%(offering)s]: %(message)s"
_filter = SecretFilter()


class OneLineFormatter(logging.Formatter):
    """Tracebacks folded onto the record's line so log shippers keep one event per line.

    Every line names its offering (`-` for the agent as a whole); actors pass it as `extra`.
    """

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "offering"):
            record.offering = "-"
        return super().format(record).replace("\n", " | ")


def setup(level: str = "INFO", secrets: Iterable[str] = (), stream: object = None) -> SecretFilter:
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    handler.setFormatter(OneLineFormatter(FORMAT))
    handler.addFilter(_filter)
    _filter.update(secrets)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("urllib3", "stomp.py", "pykka"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    return _filter
