"""Whether the suite runs as CI (`CI` set to a true value; .ci/run sets it), where a component
that cannot be set up fails its tests instead of skipping them: a skip there would pass a tree
whose SLURM, broker or package tests never ran."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def unavailable(reason: str) -> NoReturn:
    """Skip locally, fail under CI."""
    if in_ci():
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)
