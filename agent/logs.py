"""Logging: one line per record, `key=value` context, every configured secret masked.

Under systemd the lines go to the journal, which stamps them itself and reads each line's
priority from a `<N>` prefix: there a line carries that prefix and no timestamp of its own.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable
from typing import IO, TYPE_CHECKING

from waldur_site_agent_actors.config.secrets import SecretFilter

if TYPE_CHECKING:
    from waldur_site_agent_actors.actors.log_shipping import LogBuffer
    from waldur_site_agent_actors.config.model import LogShipping

FORMAT = "%(asctime)s %(levelname)s %(name)s [%(offering)s]: %(message)s"
JOURNAL_FORMAT = "<%(priority)d>%(levelname)s %(name)s [%(offering)s]: %(message)s"
_filter = SecretFilter()
_kept: list[logging.Handler] = []
_shipping: LogBuffer | None = None


def priority(level: int) -> int:
    """syslog's priority of a logging level: 2 critical, 3 error, 4 warning, 6 info, 7 debug."""
    if level >= logging.CRITICAL:
        return 2
    if level >= logging.ERROR:
        return 3
    if level >= logging.WARNING:
        return 4
    return 6 if level >= logging.INFO else 7


class OneLineFormatter(logging.Formatter):
    """Tracebacks folded onto the record's line so log shippers keep one event per line.

    Every line names its offering (`-` for the agent as a whole); actors pass it as `extra`.
    """

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "offering"):
            record.offering = "-"
        record.priority = priority(record.levelno)
        return super().format(record).replace("\n", " | ")


def is_journal(stream: IO[str]) -> bool:
    """Whether `stream` is systemd's journal: JOURNAL_STREAM names its device and inode.

    Checking the inode, not only the variable, keeps a child whose stderr was redirected
    (`run ... 2>file` from a service's shell) from writing prefixes into a file.
    """
    device, sep, inode = os.environ.get("JOURNAL_STREAM", "").partition(":")
    if not sep:
        return False
    try:
        info = os.fstat(stream.fileno())
        return (info.st_dev, info.st_ino) == (int(device), int(inode))
    except (AttributeError, OSError, ValueError):
        return False


def setup(
    level: str = "INFO",
    secrets: Iterable[str] = (),
    stream: IO[str] | None = None,
    shipping: LogShipping | None = None,
) -> SecretFilter:
    """Replace the root logger's handlers: the line on stderr, the log shipping buffer when
    `shipping` is on, and the handlers `keep()` was given (which survive a reload)."""
    target = stream or sys.stderr
    handler = logging.StreamHandler(target)
    handler.setFormatter(OneLineFormatter(JOURNAL_FORMAT if is_journal(target) else FORMAT))
    handler.addFilter(_filter)
    _filter.update(secrets)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    if shipping is not None and shipping.enabled:
        root.addHandler(_shipping_handler(shipping))
    for kept in _kept:
        root.addHandler(kept)
    root.setLevel(level.upper())
    for noisy in ("urllib3", "stomp.py", "pykka"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    return _filter


def mask(text: str) -> str:
    """`text` with every secret the logs mask masked: for what leaves the process otherwise
    (the status file, systemd's STATUS=, error tracking)."""
    return _filter.mask(text)


def keep(handler: logging.Handler) -> None:
    """Attach a handler of another concern (error tracking) that every `setup` keeps, masked
    like the rest."""
    handler.addFilter(_filter)
    _kept.append(handler)
    logging.getLogger().addHandler(handler)


def shipping_buffer() -> LogBuffer | None:
    """The buffer of lines waiting to be shipped to Waldur; None while shipping is off."""
    return _shipping


def _shipping_handler(shipping: LogShipping) -> logging.Handler:
    """Imported only when shipping is on; a reload keeps the lines already buffered."""
    from waldur_site_agent_actors.actors.log_shipping import BufferingHandler, LogBuffer

    global _shipping
    size = shipping.buffer_size_mb * 1024 * 1024
    if _shipping is None or _shipping.max_bytes != size:
        buffer = LogBuffer(size)
        if _shipping is not None:
            buffer.give_back(_shipping.take())
        _shipping = buffer
    handler = BufferingHandler(_shipping, shipping.log_level)
    handler.addFilter(_filter)
    return handler
