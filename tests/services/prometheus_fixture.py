"""The `prometheus` fixture: a real Prometheus server and promtool from `tests/services/prometheus`.

Tests using it are marked `@pytest.mark.prometheus`. The session runs `tests/services/prometheus
up` once (installs Debian's package if missing, ~40 s; starts the private server, ~2 s; ~0.1 s
when it runs already) and leaves the server running, as the other services do. The server is
shared by every session on this machine, and a test tells it what to scrape and which rules to
load through files in its directories: each test holds /tmp/prometheus.lock (exclusive) for its
whole run, and removes its files before letting go.

When the script fails, the fixture fails with its output under CI and skips locally.
"""

from __future__ import annotations

import fcntl
import json
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.ci import unavailable

SCRIPT = Path(__file__).resolve().parent / "prometheus"
LOCK = "/tmp/prometheus.lock"
PREFIX = "WALDUR_TEST_PROMETHEUS_"


@dataclass
class Prometheus:
    """The running server: where it listens, and the files a test gives it."""

    url: str
    targets: Path
    rules: Path
    promtool: str
    written: list[Path] = field(default_factory=list)

    def scrape(self, name: str, address: str) -> None:
        """Scrape `address` (host:port) as job `waldur-site-agent`, instance `name`."""
        path = self.targets / f"{name}.json"
        path.write_text(json.dumps([{"targets": [address], "labels": {"name": name}}]))
        self.written.append(path)

    def load_rules(self, name: str, text: str) -> None:
        path = self.rules / f"{name}.yml"
        path.write_text(text)
        self.written.append(path)
        self.reload()

    def reload(self) -> None:
        request = urllib.request.Request(f"{self.url}/-/reload", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass

    def api(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=10) as answer:
            body = json.load(answer)
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> dict[frozenset[tuple[str, str]], float]:
        """An instant query: {labels: value}."""
        return {
            frozenset(r["metric"].items()): float(r["value"][1])
            for r in self.api("query", query=expr, time=str(time.time()))["result"]
        }

    def forget(self) -> None:
        for path in self.written:
            path.unlink(missing_ok=True)
        self.written.clear()
        self.reload()


@pytest.fixture(scope="session")
def prometheus_server() -> dict[str, str]:
    result = subprocess.run(
        [str(SCRIPT), "up"], capture_output=True, text=True, timeout=900, check=False
    )
    if result.returncode != 0:
        message = f"tests/services/prometheus up failed:\n{result.stdout}\n{result.stderr}"
        unavailable(message)
    env = {}
    for line in result.stdout.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key.startswith(PREFIX):
            env[key.removeprefix(PREFIX)] = value
    return env


@pytest.fixture
def prometheus(prometheus_server: dict[str, str]) -> Iterator[Prometheus]:
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        server = Prometheus(
            url=prometheus_server["URL"],
            targets=Path(prometheus_server["TARGETS"]),
            rules=Path(prometheus_server["RULES"]),
            promtool=prometheus_server["PROMTOOL"],
        )
        try:
            yield server
        finally:
            server.forget()
