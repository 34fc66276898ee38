"""Running backend CLIs: argv only, a timeout on every call, the process group killed on expiry.

A hung `sacctmgr` must never stall an offering for good, and a name from Waldur must never be
interpreted by a shell: there is no shell here at all.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Sequence

from waldur_site_agent_actors.backends.exceptions import (
    CommandError,
    CommandNotFound,
    CommandTimeout,
    InvalidNameError,
)

log = logging.getLogger("backends.commands")

DEFAULT_TIMEOUT = 60.0
_REAP_SECONDS = 5.0

# Letters, digits, `_`, `-`, `.`; starts with a letter or digit. Backends narrow it further.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def validate_name(
    name: str, *, what: str = "name", pattern: re.Pattern[str] = SAFE_NAME, max_length: int = 64
) -> str:
    """Refuse a name before it reaches any command line."""
    if not isinstance(name, str) or not name:
        raise InvalidNameError(f"{what} is empty")
    if len(name) > max_length:
        raise InvalidNameError(f"{what} {name[:20]!r}... is longer than {max_length} characters")
    if not pattern.fullmatch(name):
        raise InvalidNameError(
            f"{what} {name!r} contains characters that are not allowed (allowed: {pattern.pattern})"
        )
    return name


def execute_command(
    argv: Sequence[str],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    env: dict[str, str] | None = None,
    input_text: str | None = None,
    mask: Callable[[str], str] = lambda text: text,
    silent: bool = False,
) -> str:
    """Run `argv` and return its stdout; raise a typed error on failure, timeout or absence."""
    argv = [str(a) for a in argv]
    if not argv:
        raise ValueError("empty command")
    started = time.monotonic()
    shown = mask(" ".join(argv))
    # Errors carry the command masked too: they are logged and may be shown to Waldur users.
    reported = [mask(a) for a in argv]
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if input_text is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,  # its own process group, so a timeout can kill grandchildren
        )
    except (FileNotFoundError, NotADirectoryError):
        raise CommandNotFound(reported) from None
    except OSError as exc:  # not executable, exec format error, ...: like a shell's exit 126
        raise CommandError(reported, 126, mask(str(exc))) from None
    try:
        stdout, stderr = process.communicate(input_text, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        log.warning("command timed out after %.1f s and was killed: %s", timeout, shown)
        raise CommandTimeout(reported, timeout) from None
    elapsed = time.monotonic() - started
    if process.returncode != 0:
        log.warning(
            "command failed (exit %s, %.3f s): %s: %s",
            process.returncode,
            elapsed,
            shown,
            mask(stderr.strip()),
        )
        raise CommandError(reported, process.returncode, mask(stderr), mask(stdout))
    if not silent:
        log.debug("command ok (%.3f s): %s", elapsed, shown)
    return stdout


def _kill_group(process: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    try:
        # Reap the child; pipes may stay open if a grandchild left the group, so bound the wait.
        process.communicate(timeout=_REAP_SECONDS)
    except subprocess.TimeoutExpired:
        for stream in (process.stdout, process.stderr, process.stdin):
            if stream:
                stream.close()
        process.wait(timeout=_REAP_SECONDS)
