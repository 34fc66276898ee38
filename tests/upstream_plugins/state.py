"""The guide plugin's JSON state, read while the agent may be writing it."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any


def read_state(path: Path, within: float = 10.0) -> Any:
    """The file's JSON. The guide plugin rewrites it in place (truncate, then write), so a read
    can land between the two: an empty or cut file is read again until it parses."""
    deadline = time.monotonic() + within
    while True:
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
