"""The agent as operators run it: a real `waldur-site-agent run` process, its config, its log."""

from __future__ import annotations

import atexit
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tomli_w

from waldur_site_agent_actors.agent.demo import (
    COMPONENTS,
)  # the default simulator offering's components

_started: list[subprocess.Popen[bytes]] = []


@atexit.register
def _kill_leftovers() -> None:
    """A test that failed before stopping its agent must not leave it running after pytest."""
    for process in _started:
        if process.poll() is None:
            process.kill()


def wait_for(
    predicate: Callable[[], Any],
    timeout: float = 30.0,
    what: str = "condition",
    log: Callable[[], str] | None = None,
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    tail = "\n".join(log().splitlines()[-40:]) if log else ""
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}\n{tail}")


def offering_config(
    sim: Any, offering: dict[str, Any], state: Path, name: str = "hpc", **settings: Any
) -> dict[str, Any]:
    return {
        "name": name,
        "waldur_api_url": sim.api_url,
        "waldur_api_token": sim.provider_token,
        "waldur_offering_uuid": offering["uuid"],
        "backend_type": "demo",
        "backend_settings": {"path": str(state / f"demo-{name}.sqlite"), **settings},
        "backend_components": COMPONENTS,
    }


class Agent:
    def __init__(self, tmp: Path, offerings: list[dict[str, Any]], **root: Any) -> None:
        self.dir = tmp
        self.config = tmp / "agent.toml"
        self.log_path = tmp / "agent.log"
        document = {
            "state_dir": str(tmp / "state"),
            "order_process_period_minutes": 0.01,
            "report_period_minutes": 0.02,
            "membership_sync_period_minutes": 0.02,
            "supervision": {"backoff_initial_seconds": 0.2, "backoff_max_seconds": 1.0},
            **root,
            "offerings": offerings,
        }
        self.config.write_text(tomli_w.dumps(document))
        self.process: subprocess.Popen[bytes] | None = None

    def start(
        self, *args: str, env: dict[str, str] | None = None, python: str = sys.executable
    ) -> Agent:
        """`python` runs the agent: another venv's (one holding upstream plugins) if given."""
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                python,
                "-m",
                "waldur_site_agent_actors.agent.cli",
                "run",
                "-c",
                str(self.config),
                *args,
            ],
            stdout=log,
            stderr=log,
            cwd=Path(__file__).parents[2],
            env={**os.environ, **(env or {})},
        )
        _started.append(self.process)
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def status(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "waldur_site_agent_actors.agent.cli",
                "status",
                "-c",
                str(self.config),
            ],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=Path(__file__).parents[2],
        )


class DemoDb:
    """Read-only look into a demo backend's SQLite file: what exists on the 'backend'."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        # The agent may be creating the file (no tables yet) or writing: "not yet", briefly.
        for _ in range(50):
            if not self.path.exists():
                return []
            try:
                with sqlite3.connect(f"file:{self.path}?mode=ro", uri=True) as db:
                    return db.execute(sql, args).fetchall()
            except sqlite3.OperationalError:
                time.sleep(0.1)
        raise AssertionError(f"{self.path} stayed unreadable for 5 s")

    def accounts(self) -> set[str]:
        return {row[0] for row in self.query("SELECT name FROM accounts")}

    def limits(self, account: str) -> dict[str, int]:
        return dict(self.query("SELECT component, value FROM limits WHERE account = ?", account))

    def members(self, account: str) -> set[str]:
        return {
            r[0] for r in self.query("SELECT username FROM associations WHERE account = ?", account)
        }

    def state(self, account: str) -> str | None:
        rows = self.query("SELECT state FROM accounts WHERE name = ?", account)
        return rows[0][0] if rows else None


def terminal(consumer: Any, order_uuid: str) -> dict[str, Any] | None:
    order = consumer.order_details(order_uuid)
    return order if order["state"] in ("done", "erred", "rejected", "canceled") else None
