"""Chaos figures reach the reader whatever the capture settings: the terminal summary shows
them, `record_property` puts them in a JUnit XML report, and the pytest cache keeps the last
run's (`pytest --cache-show 'chaos/*'`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

FIGURES = pytest.StashKey[list[tuple[str, dict[str, Any]]]]()


@pytest.fixture
def chaos_report(request, record_property) -> Callable[[str, dict[str, Any]], None]:
    def report(name: str, figures: dict[str, Any]) -> None:
        for key, value in figures.items():
            record_property(key, value)
        request.config.cache.set(f"chaos/{name}", figures)
        request.config.stash.setdefault(FIGURES, []).append((name, figures))

    return report


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    runs = config.stash.get(FIGURES, [])
    if not runs:
        return
    terminalreporter.section("chaos figures")
    for name, figures in runs:
        terminalreporter.write_line(name)
        for key, value in figures.items():
            shown = value if isinstance(value, int | float | str) else json.dumps(value)
            terminalreporter.write_line(f"  {key}: {shown}")
