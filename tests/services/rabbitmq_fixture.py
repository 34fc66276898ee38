"""The session-scoped `rabbitmq` fixture: a real RabbitMQ node from `tests/services/rabbitmq`.

Tests using it are marked `@pytest.mark.rabbitmq` (select them with `-m rabbitmq`). The fixture
runs `tests/services/rabbitmq up` (installs and starts the node if needed; ~9 s for a stopped node,
~40 s on a machine without the package, ~1 s when it already runs), holds a lease on the node for
the session, and at the end stops the node only if this session started it and no other live
session holds a lease. A node that was already running is left running, so repeated local runs
are fast (`tests/services/rabbitmq up` once, then run the tests as often as you like).

The object it yields has the node's addresses and admin credentials, a `Broker` (`.broker`),
`restart()` (stop and start; durable queues and persistent messages survive) and `outage()` (a
context manager: the node is down inside the block).

Several pytest sessions (other worktrees, other people's `./test`) may share the node, and some
tests restart it. So every test that uses `rabbitmq` holds a shared lock on the node for its
duration, and `restart()`/`outage()` take it exclusively: a restart waits for the other
sessions' running broker tests to finish, and their next test waits for the restart.

When the script fails, the fixture fails with the script's output under CI (`CI` set to a true
value); locally it skips with that output as the reason.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.ci import unavailable
from waldur_site_agent_actors.simulators.waldur.broker import Broker

SCRIPT = Path(__file__).resolve().parent / "rabbitmq"
PREFIX = "WALDUR_TEST_RABBITMQ_"


def parse_env(text: str) -> dict[str, str]:
    """The `KEY=VALUE` lines the script prints (only its own `WALDUR_TEST_RABBITMQ_*` keys)."""
    env = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key.startswith(PREFIX):
            env[key] = value
    return env


def forget(broker: Any, sim: Any) -> None:
    """Delete the vhosts and users `sim` registered: simulators share seeded UUIDs, so a
    later test would otherwise inherit this one's queues and the messages left in them."""
    for queue in sim.objects("agent_queues"):
        broker.delete_user(queue["rmq_username"])
        broker.delete_vhost(queue["vhost"])
    for subscription in sim.objects("subscriptions"):
        broker.delete_user(subscription["uuid"])
        broker.delete_vhost(subscription["user"])


def _text(out: str | bytes | None) -> str:
    return out.decode(errors="replace") if isinstance(out, bytes) else out or ""


@dataclass
class RabbitMQ:
    """The running test broker: where it listens, its admin, and a `Broker` driving it."""

    env: dict[str, str]
    broker: Broker
    started_here: bool = False
    restarts: int = field(default=0)
    _use_lock: int | None = field(default=None, repr=False)
    _holding: bool = field(default=False, repr=False)

    def _lock(self, mode: int) -> None:
        if self._use_lock is None:
            path = Path(self.env[PREFIX + "DIR"]) / "use.lock"
            self._use_lock = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self._use_lock, mode)

    def hold(self) -> None:
        """Shared use for one test: no other session restarts the node meanwhile."""
        self._lock(fcntl.LOCK_SH)
        self._holding = True

    def release(self) -> None:
        if self._use_lock is not None:
            fcntl.flock(self._use_lock, fcntl.LOCK_UN)
        self._holding = False

    def close(self) -> None:
        if self._use_lock is not None:
            os.close(self._use_lock)
            self._use_lock = None

    @property
    def host(self) -> str:
        return self.env.get(PREFIX + "HOST", "127.0.0.1")

    @property
    def ws_url(self) -> str:
        return self.env[PREFIX + "WS_URL"]

    @property
    def ws_port(self) -> int:
        return int(self.env[PREFIX + "WS_PORT"])

    @property
    def ws_path(self) -> str:
        return self.env.get(PREFIX + "WS_PATH", "/ws")

    @property
    def stomp_port(self) -> int:
        return int(self.env[PREFIX + "STOMP_PORT"])

    @property
    def mgmt_url(self) -> str:
        return self.env[PREFIX + "MGMT_URL"]

    @property
    def admin_user(self) -> str:
        return self.env[PREFIX + "ADMIN_USER"]

    @property
    def admin_password(self) -> str:
        return self.env[PREFIX + "ADMIN_PASSWORD"]

    @property
    def nodename(self) -> str:
        return self.env[PREFIX + "NODENAME"]

    @property
    def offering_stomp(self) -> dict[str, Any]:
        """The keys that put an offering's events on this broker (plain Web-STOMP, no TLS)."""
        return {
            "stomp_enabled": True,
            "stomp_ws_host": self.host,
            "stomp_ws_port": self.ws_port,
            "stomp_ws_path": self.ws_path,
            "websocket_use_tls": False,
        }

    def forget(self, sim: Any) -> None:
        forget(self.broker, sim)

    def restart(self, timeout: float = 300) -> None:
        """Stop and start the same node (durable queues and persistent messages survive).

        Every client connection drops; returns once the management API answers again. Waits
        for tests of other sessions that are using the node to finish first.
        """
        with self._exclusive():
            self._script("restart", timeout)
            self._wait_ready()
        self.restarts += 1

    @contextmanager
    def outage(self, timeout: float = 300) -> Iterator[None]:
        """The node is down inside the block (connections drop, nothing answers), up after it.

        Like `restart`, it waits for other sessions' tests using the node, and they wait for it.
        """
        with self._exclusive():
            self._script("stop", timeout)
            try:
                yield
            finally:
                self._script("start", timeout)
                self._wait_ready()
        self.restarts += 1

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        held = self._holding
        self._lock(fcntl.LOCK_EX)  # converts this test's shared lock; others' tests drain
        try:
            yield
        finally:
            if held:
                self._lock(fcntl.LOCK_SH)
            else:
                self.release()

    def _script(self, command: str, timeout: float) -> None:
        run = subprocess.run(
            [str(SCRIPT), command], capture_output=True, text=True, timeout=timeout
        )
        if run.returncode != 0:
            raise RuntimeError(
                f"tests/services/rabbitmq {command} failed (exit {run.returncode}):\n"
                f"{run.stdout}{run.stderr}"
            )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while not self.broker.ping():
            if time.monotonic() > deadline:
                raise RuntimeError("RabbitMQ management API does not answer after a start")
            time.sleep(0.2)


@pytest.fixture(autouse=True)
def _rabbitmq_in_use(request):
    """Tests that use `rabbitmq` hold the node (shared) while they run; see the module doc."""
    if "rabbitmq" not in request.fixturenames:
        yield
        return
    node = request.getfixturevalue("rabbitmq")
    node.hold()
    try:
        yield
    finally:
        node.release()


@pytest.fixture(scope="session")
def rabbitmq():
    lease = str(os.getpid())
    was_running = (
        subprocess.run(
            [str(SCRIPT), "status"], capture_output=True, text=True, timeout=60
        ).returncode
        == 0
    )
    try:
        run = subprocess.run(
            [str(SCRIPT), "up", "--lease", lease], capture_output=True, text=True, timeout=900
        )
        failure = "" if run.returncode == 0 else f"exit {run.returncode}"
        output = f"{run.stdout}{run.stderr}"
    except subprocess.TimeoutExpired as exc:
        failure, output = "timed out", _text(exc.stdout) + _text(exc.stderr)
    if failure:
        message = f"tests/services/rabbitmq up failed ({failure}):\n{output}"
        unavailable(message)
    env = parse_env(run.stdout)
    started = env.get(PREFIX + "STARTED", "0" if was_running else "1") == "1"
    node = RabbitMQ(env=env, broker=Broker.from_env(env), started_here=started)
    try:
        yield node
    finally:
        node.close()
        if node.started_here:
            subprocess.run(
                [str(SCRIPT), "down", "--if-unleased", lease],
                capture_output=True,
                timeout=300,
            )
        else:
            lease_file = Path(env.get(PREFIX + "DIR", "/nonexistent")) / "leases" / lease
            lease_file.unlink(missing_ok=True)
