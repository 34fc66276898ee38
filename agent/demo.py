"""`waldur-site-agent demo`: the agent's whole job, on one machine, in about fifteen seconds.

The embedded Waldur simulator runs in this process; the agent runs as the real service in a child
process (`run -c FILE`) with the `demo` backend plugin, whose SQLite file lives in the demo's state
directory. This process then behaves like a Waldur user (the consumer API, staff token): it orders
resources, changes limits, terminates, changes project teams, and watches the agent carry it all
out, reading Waldur's answers and the demo backend's file. See docs/demo.md.

Only this command and `simulator` import `simulators`; the service never does.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar
from urllib.parse import urlsplit

import tomli_w

from waldur_site_agent_actors.agent.cli import EXIT_FAILURE, EXIT_OK
from waldur_site_agent_actors.backends.base import STATE_DIR_VARIABLE
from waldur_site_agent_actors.backends.demo.store import Store
from waldur_site_agent_actors.simulators.waldur import WaldurSimulator
from waldur_site_agent_actors.simulators.waldur.broker import Broker, BrokerError
from waldur_site_agent_actors.simulators.waldur.client import ConsumerClient

T = TypeVar("T")

DEFAULT_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
LOG_TAIL = 25
BROKER_PREFIX = "WALDUR_TEST_RABBITMQ_"
RABBITMQ_SCRIPT = Path(__file__).resolve().parents[1] / "tests" / "services" / "rabbitmq"
TERMINAL = ("done", "erred", "rejected", "canceled")
OFFERING_NAME = "demo"
FILES = ("agent.toml", "agent.log", "demo-backend.sqlite", "status.json")

# The default simulator offering's components, as a site would declare them.
COMPONENTS: dict[str, dict[str, Any]] = {
    "cpu": {
        "measured_unit": "k-Hours",
        "accounting_type": "limit",
        "label": "CPU",
        "unit_factor": 60000,
    },
    "mem": {
        "measured_unit": "gb-Hours",
        "accounting_type": "limit",
        "label": "Memory",
        "unit_factor": 61440,
    },
    "gpu": {
        "measured_unit": "gpu-Hours",
        "accounting_type": "usage",
        "label": "GPU",
        "unit_factor": 60,
    },
}


class DemoFailed(Exception):
    """The scenario cannot go on; the message says what did not happen."""


class Printer:
    """Plain lines with the time since the start; colour only on a terminal."""

    CODES = {"bold": "1", "green": "32", "red": "31", "yellow": "33", "dim": "2"}

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")

    def paint(self, text: str, style: str) -> str:
        return f"\033[{self.CODES[style]}m{text}\033[0m" if self.colour else text

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def say(self, text: str) -> None:
        print(f"[{self.elapsed():5.1f}s] {text}", flush=True)

    def step(self, title: str) -> None:
        print(flush=True)
        print(self.paint(f"== {title}", "bold"), flush=True)

    def plain(self, text: str = "") -> None:
        print(text, flush=True)

    def state(self, state: str) -> str:
        style = {"done": "green", "erred": "red"}.get(state)
        return self.paint(state, style) if style else state


@dataclass
class TrackedOrder:
    uuid: str
    kind: str
    resource: str
    resource_uuid: str
    placed_at: float
    expect: str = "done"
    states: list[str] = field(default_factory=list)
    finished_at: float | None = None

    @property
    def state(self) -> str:
        return self.states[-1] if self.states else "placed"

    @property
    def label(self) -> str:
        return f"{self.kind} {self.resource}"


class OrderWatch:
    """Follows order state changes through the events the simulator emits (what Waldur would
    publish), so even the short `executing` step shows."""

    def __init__(self, sim: WaldurSimulator, out: Printer) -> None:
        self.sim, self.out = sim, out
        self.orders: dict[str, TrackedOrder] = {}
        self.seen = 0

    def add(self, order: TrackedOrder) -> TrackedOrder:
        self.orders[order.uuid] = order
        return order

    def poll(self) -> None:
        emitted = self.sim.emitted
        fresh, self.seen = emitted[self.seen :], len(emitted)
        for event in fresh:
            if event.get("object_type") != "order":
                continue
            payload = event.get("payload") or {}
            order = self.orders.get(str(payload.get("order_uuid", "")).replace("-", ""))
            state = str(payload.get("order_state", ""))
            if order is None or not state or order.state == state:
                continue
            before = order.state
            order.states.append(state)
            note = ""
            if state in TERMINAL:
                order.finished_at = time.monotonic()
                note = f" after {order.finished_at - order.placed_at:.1f} s"
            self.out.say(f"order {order.label}: {before} -> {self.out.state(state)}{note}")

    def finished(self, orders: list[TrackedOrder]) -> bool:
        return all(o.state in TERMINAL for o in orders)


class Demo:
    def __init__(self, state_dir: Path, events: bool, timeout: float) -> None:
        self.state_dir = state_dir
        self.events = events
        self.timeout = timeout
        self.out = Printer()
        self.config_path = state_dir / "agent.toml"
        self.log_path = state_dir / "agent.log"
        self.backend_path = state_dir / "demo-backend.sqlite"
        self.agent: subprocess.Popen[bytes] | None = None
        self.agent_exit: int | None = None
        self.stop_seconds = 0.0
        self.deadline = 0.0
        self.own_calls: list[str] = []
        self.linked_at_creation = 0
        self.added: list[str] = []
        self.removed: list[str] = []
        self.usage_line = ""
        self.resource_lines: list[str] = []
        # Metrics on when the `metrics` extra is there (docs/monitoring.md), on a free port.
        self.metrics_port = free_port() if importlib.util.find_spec("prometheus_client") else 0

    # plumbing

    def wait_for(self, what: str, check: Callable[[], T | None], every: float = 0.1) -> T:
        while True:
            self.watch.poll()
            if self.agent is not None and self.agent.poll() is not None:
                raise DemoFailed(f"the agent exited (code {self.agent.returncode}) while {what}")
            result = check()
            if result:
                return result
            if time.monotonic() > self.deadline:
                raise DemoFailed(f"timed out after {self.timeout:g} s {what}")
            time.sleep(every)

    def call(self, method: str, path: str, **params: Any) -> Any:
        return self.client._call(method, path, **params)

    def associations(self, account: str) -> set[str]:
        rows = self.store.execute("SELECT username FROM associations WHERE account = ?", account)
        return {str(row[0]) for row in rows}

    def usernames(self) -> dict[str, str]:
        """Waldur username -> offering username, for the users the agent has named."""
        users = self.call(
            "GET", "marketplace-offering-users/", offering_uuid=self.offering["uuid"], page_size=300
        )
        return {str(u["user_username"]): str(u["username"]) for u in users if u.get("username")}

    # the steps

    def start(self, broker: Broker | None) -> None:
        self.sim = WaldurSimulator(broker=broker).start()
        self.watch = OrderWatch(self.sim, self.out)
        summary = self.sim.summary()
        self.offering = summary["offerings"][0]
        self.projects = summary["projects"][:2]
        self.client = ConsumerClient(self.sim.api_url, self.sim.staff_token)
        self.client.session.hooks["response"].append(
            lambda response, *args, **kwargs: self.own_calls.append(urlsplit(response.url).path)
        )
        self.out.say(f"Waldur simulator at {self.sim.api_url}")
        self.out.say(
            f"offering {self.offering['name']!r}; projects "
            + ", ".join(repr(p["name"]) for p in self.projects)
        )
        self.write_config(broker)
        self.start_agent()
        self.store = Store(self.backend_path)

    def write_config(self, broker: Broker | None) -> None:
        # Polling keeps the demo quick; with events, orders and team changes must come by events.
        slow = 10.0 if self.events else None
        offering: dict[str, Any] = {
            "name": OFFERING_NAME,
            "waldur_api_url": self.sim.api_url,
            "waldur_api_token": self.sim.provider_token,
            "waldur_offering_uuid": self.offering["uuid"],
            "backend_type": "demo",
            "backend_settings": {"path": str(self.backend_path), "usage_per_second": 100.0},
            "backend_components": COMPONENTS,
        }
        if broker is not None:
            offering.update(
                stomp_enabled=True,
                websocket_use_tls=False,
                stomp_ws_host=broker.ws_host,
                stomp_ws_port=broker.ws_port,
                stomp_ws_path=broker.ws_path,
            )
        config = {
            "state_dir": str(self.state_dir),
            "log_level": "INFO",
            "order_process_period_minutes": slow or 0.02,
            "membership_sync_period_minutes": slow or 0.03,
            "report_period_minutes": 0.03,
            "offerings": [offering],
        }
        if self.metrics_port:
            config["metrics"] = {"enabled": True, "listen_port": self.metrics_port}
        text = tomli_w.dumps(config)
        with contextlib.suppress(FileNotFoundError):
            self.config_path.unlink()
        descriptor = os.open(self.config_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
        self.out.say(f"agent config (mode 600): {self.config_path}")

    def start_agent(self) -> None:
        env = {
            key: value
            for key, value in os.environ.items()
            if not (key.startswith("WALDUR_SITE_AGENT_") and key.endswith("_PERIOD_MINUTES"))
        }
        env[STATE_DIR_VARIABLE] = str(self.state_dir)
        env.pop("NOTIFY_SOCKET", None)
        descriptor = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as log:
            self.agent = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "waldur_site_agent_actors.agent.cli",
                    "run",
                    "-c",
                    str(self.config_path),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # Ctrl-C reaches the demo, which stops the agent in order
            )
        self.out.say(f"agent started (pid {self.agent.pid}), log: {self.log_path}")
        if self.events:
            self.wait_for("waiting for the agent to register its event queue", self.queue_ready)
            self.out.say("agent registered its event queue: orders arrive as STOMP messages")

    def queue_ready(self) -> bool:
        with self.sim.state.lock:
            return bool(self.sim.state.find("agent_queues", offering=self.offering["uuid"]))

    def place_creates(self) -> tuple[TrackedOrder, TrackedOrder]:
        self.out.step("Create orders, one per project")
        names = ("climate-sim", "protein-fold")
        limits = ({"cpu": 10, "mem": 20}, {"cpu": 4, "mem": 8})
        placed = []
        for project, name, wanted in zip(self.projects, names, limits, strict=True):
            answer = self.client.order(self.offering["url"], project["url"], wanted, name=name)
            order = self.watch.add(
                TrackedOrder(
                    answer["uuid"],
                    "Create",
                    name,
                    answer["marketplace_resource_uuid"],
                    time.monotonic(),
                )
            )
            self.out.say(
                f"ordered {name!r} in {project['name']!r} with limits {wanted}: "
                f"order {order.uuid[:8]}"
            )
            placed.append(order)
        self.wait_for("waiting for the Create orders", lambda: self.watch.finished(placed))
        first, second = placed
        for order in placed:
            if order.state != "done":
                raise DemoFailed(f"order {order.label} ended {order.state}")
            resource = self.client.resource(order.resource_uuid)
            self.out.say(
                f"resource {order.resource}: {resource['state']}, backend id "
                f"{resource['backend_id']!r}, limits {resource['limits']}"
            )
        return first, second

    def initial_members(self, a: TrackedOrder, b: TrackedOrder) -> None:
        self.out.step("Project teams become accounts on the backend")
        teams = {a.resource: ("alice", "bob"), b.resource: ("carol", "dave")}

        def linked() -> dict[str, str] | None:
            names = self.usernames()
            for resource, users in teams.items():
                wanted = {names.get(u) for u in users}
                if None in wanted or self.associations(f"demo_{resource}") != wanted:
                    return None
            return names

        names = self.wait_for("waiting for the teams to be linked", linked, every=0.3)
        for resource, users in teams.items():
            members = ", ".join(f"{names[u]} ({u})" for u in users)
            self.out.say(f"demo backend: demo_{resource} has {members}")
            self.linked_at_creation += len(users)
        self.names = names

    def team_changes(self, a: TrackedOrder) -> None:
        self.out.step("Team changes: carol joins 'Climate modelling', bob leaves it")
        project = self.projects[0]
        carol, bob = self.client.user_uuid("carol"), self.client.user_uuid("bob")
        self.client.add_user(project["uuid"], carol, "PROJECT.MEMBER")
        self.out.say("added carol to 'Climate modelling' (PROJECT.MEMBER)")
        self.client.remove_user(project["uuid"], bob)
        self.out.say("removed bob from 'Climate modelling'")
        account = f"demo_{a.resource}"
        carol_name, bob_name = self.names["carol"], self.names["bob"]
        self.wait_for(
            f"waiting for {carol_name} to join {account}",
            lambda: carol_name in self.associations(account),
        )
        self.out.say(f"demo backend: {carol_name} (carol) associated with {account}")
        self.added.append("carol")
        self.wait_for(
            f"waiting for {bob_name} to leave {account}",
            lambda: bob_name not in self.associations(account),
        )
        self.out.say(f"demo backend: {bob_name} (bob) no longer associated with {account}")
        self.removed.append("bob")

    def updates(self, a: TrackedOrder, b: TrackedOrder) -> tuple[TrackedOrder, TrackedOrder]:
        self.out.step("Update orders: new limits, and one the backend must refuse")
        new_limits = {"cpu": 20, "mem": 40}
        uuid = self.client.update_limits(a.resource_uuid, new_limits)
        update = self.watch.add(
            TrackedOrder(uuid, "Update", a.resource, a.resource_uuid, time.monotonic())
        )
        self.out.say(f"asked for {new_limits} on {a.resource!r}: order {uuid[:8]}")
        # The error path: the account disappears behind the agent's back (an administrator
        # deleted it on the cluster), so the backend refuses the next change of its limits.
        gone = f"demo_{b.resource}"
        self.store.delete_account(gone)
        self.out.say(f"deleted account {gone} directly in the demo backend (out of band)")
        uuid = self.client.update_limits(b.resource_uuid, {"cpu": 8, "mem": 16})
        refused = self.watch.add(
            TrackedOrder(
                uuid, "Update", b.resource, b.resource_uuid, time.monotonic(), expect="erred"
            )
        )
        self.out.say(f"asked for new limits on {b.resource!r}: order {uuid[:8]}")
        self.wait_for(
            "waiting for the Update orders", lambda: self.watch.finished([update, refused])
        )
        rows = self.store.execute(
            "SELECT component, value FROM limits WHERE account = ? ORDER BY component",
            f"demo_{a.resource}",
        )
        shown = ", ".join(f"{c}={v}" for c, v in rows)
        self.out.say(f"demo backend: demo_{a.resource} limits {shown} (backend units)")
        details = self.client.order_details(refused.uuid)
        self.out.say(
            f"order {refused.label} {self.out.state(refused.state)} as intended: "
            f"{details.get('error_message') or '(no message)'}"
        )
        return update, refused

    def terminate(self, b: TrackedOrder) -> TrackedOrder:
        self.out.step(f"Terminate {b.resource!r}")
        uuid = self.client.terminate(b.resource_uuid)
        order = self.watch.add(
            TrackedOrder(uuid, "Terminate", b.resource, b.resource_uuid, time.monotonic())
        )
        self.out.say(f"terminate {b.resource!r}: order {uuid[:8]}")
        self.wait_for("waiting for the Terminate order", lambda: self.watch.finished([order]))
        resource = self.client.resource(b.resource_uuid)
        self.out.say(f"resource {b.resource}: {resource['state']}")
        return order

    def usage(self, a: TrackedOrder) -> None:
        self.out.step("Usage reported by the agent (report mode)")
        uuid = a.resource_uuid

        def reported() -> list[dict[str, Any]] | None:
            rows = self.call("GET", "marketplace-component-usages/", resource_uuid=uuid)
            return rows if any(float(r["usage"]) > 0 for r in rows) else None

        rows = self.wait_for("waiting for usage to be reported", reported, every=0.5)
        parts = [f"{r['type']} {r['usage']} {r['measured_unit']}" for r in rows]
        users = self.call("GET", "marketplace-component-user-usages/", resource_uuid=uuid)
        self.usage_line = f"{a.resource}: {', '.join(parts)} ({len(users)} per-user record(s))"
        self.out.say(f"component usages of {self.usage_line}")

    def status(self) -> None:
        from waldur_site_agent_actors.agent import status

        with contextlib.suppress(FileNotFoundError, ValueError):
            current, _age = status.read(str(self.state_dir))
            for offering in current.offerings:
                self.out.say(
                    f"agent status: offering {offering.name!r} {offering.state}, "
                    f"restarts {offering.restarts}"
                )

    def stop_agent(self) -> None:
        if self.agent is None or self.agent_exit is not None:
            return
        started = time.monotonic()
        if self.agent.poll() is None:
            self.agent.send_signal(signal.SIGTERM)
            try:
                self.agent.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.out.say(f"the agent did not stop within {STOP_TIMEOUT:.0f} s; killing it")
                self.agent.kill()
                self.agent.wait()
        self.agent_exit = self.agent.returncode
        self.stop_seconds = time.monotonic() - started

    def stop(self) -> None:
        self.stop_agent()
        with contextlib.suppress(Exception):
            self.store.db.close()
        with contextlib.suppress(Exception):
            self.client.close()
        with contextlib.suppress(Exception):
            self.sim.stop()

    def log_tail(self) -> None:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()[-LOG_TAIL:]
        except OSError:
            return
        self.out.plain(f"last {len(lines)} line(s) of {self.log_path}:")
        for line in lines:
            self.out.plain(f"  {line}")

    # the summary

    def http_calls(self) -> list[str]:
        counts = self.sim.counts()
        total = sum(counts.values())
        mine = len(self.own_calls)
        agent = total - mine
        orders = len(self.watch.orders)
        lines = [
            f"HTTP calls counted by the simulator: {total}; {agent} by the agent "
            f"(~{agent / max(orders, 1):.0f} per order, periodic sweeps included), "
            f"{mine} by the demo user"
        ]
        log = self.sim.requests()
        for order in self.watch.orders.values():
            on_order = sum(order.uuid in r["path"] for r in log)
            on_order -= sum(order.uuid in path for path in self.own_calls)
            lines.append(f"  {order.label}: {on_order} agent call(s) on the order itself")
        return lines

    def summary(self) -> bool:
        orders = list(self.watch.orders.values())
        done = sum(o.state == "done" for o in orders)
        erred = sum(o.state == "erred" for o in orders)
        as_intended = all(o.state == o.expect for o in orders)
        intended_errors = sum(o.expect == "erred" for o in orders)
        self.out.step("Summary")
        if as_intended:
            verdict = self.out.paint("all finished as intended", "green")
        else:
            verdict = self.out.paint("NOT as intended", "red")
        self.out.plain(
            f"orders: {len(orders)} placed, {verdict}: {done} done, {erred} erred "
            f"({intended_errors} on purpose)"
        )
        for order in orders:
            took = f"{order.finished_at - order.placed_at:.1f} s" if order.finished_at else "-"
            self.out.plain(f"  {order.label}: {' -> '.join(order.states)} ({took})")
        for line in self.resource_lines:
            self.out.plain(line)
        self.out.plain(
            f"members synced: {self.linked_at_creation} linked to the new accounts, "
            f"{len(self.added)} added ({', '.join(self.added)}), "
            f"{len(self.removed)} removed ({', '.join(self.removed)})"
        )
        self.out.plain(f"usage reported: {self.usage_line}")
        for line in self.http_calls():
            self.out.plain(line)
        return as_intended

    def resources(self) -> None:
        resources = self.call(
            "GET", "marketplace-resources/", offering_uuid=self.offering["uuid"], page_size=300
        )
        parts = [
            f"{r['name']} {r['state']}"
            + (f" ({r['backend_id']}, limits {r['limits']})" if r["state"] == "OK" else "")
            for r in resources
        ]
        self.resource_lines = [f"resources: {'; '.join(parts)}"]

    def serve(self) -> None:
        token = self.sim.staff_token
        self.out.step("Serving: the simulator and the agent keep running")
        self.out.plain(f"Waldur API:   {self.sim.api_url}  (staff token {token})")
        self.out.plain(
            f"  curl -H 'Authorization: Token {token}' {self.sim.api_url}marketplace-orders/"
        )
        self.out.plain(
            f"  curl -H 'Authorization: Token {token}' "
            f"{self.sim.api_url}marketplace-resources/?offering_uuid={self.offering['uuid']}"
        )
        order = {
            "offering": self.offering["url"],
            "project": self.projects[0]["url"],
            "limits": {"cpu": 2, "mem": 4},
            "attributes": {"name": "mine"},
        }
        self.out.plain(
            f"  curl -H 'Authorization: Token {token}' -H 'Content-Type: application/json' "
            f"-d '{json.dumps(order)}' {self.sim.api_url}marketplace-orders/"
        )
        self.out.plain(
            f"  curl -H 'Authorization: Token {token}' {self.sim.base_url}/_sim/counters/"
        )
        if self.metrics_port:
            metrics = f"http://127.0.0.1:{self.metrics_port}/metrics"
            self.out.plain(f"metrics:      {metrics}  (Prometheus; docs/monitoring.md)")
            self.out.plain(f"  curl -s {metrics} | grep ^waldur_site_agent_orders_total")
        else:
            self.out.plain("metrics:      off (install the agent's `metrics` extra to see them)")
        self.out.plain(f"agent log:    {self.log_path}")
        self.out.plain(f"agent status: {self.state_dir / 'status.json'}")
        self.out.plain(f"  waldur-site-agent status --state-dir {self.state_dir}")
        self.out.plain(f"demo backend: {self.backend_path} (sqlite3)")
        self.out.plain("Ctrl-C or SIGTERM stops both.")
        assert self.agent is not None
        while self.agent.poll() is None:
            time.sleep(0.5)
        raise DemoFailed(f"the agent exited (code {self.agent.returncode}) while serving")


def free_port() -> int:
    """A port no one listens on now, for the agent's metrics."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def resolve_broker() -> Broker:
    """The RabbitMQ that `tests/services/rabbitmq up` started: its variables from the
    environment, or from the script's `env` (the node's addresses and admin login)."""
    env = {k: v for k, v in os.environ.items() if k.startswith(BROKER_PREFIX)}
    if not env.get(BROKER_PREFIX + "MGMT_URL") and RABBITMQ_SCRIPT.exists():
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            printed = subprocess.run(
                [str(RABBITMQ_SCRIPT), "env"], capture_output=True, text=True, timeout=30
            ).stdout
            for line in printed.splitlines():
                key, sep, value = line.strip().partition("=")
                if sep and key.startswith(BROKER_PREFIX):
                    env.setdefault(key, value)
    try:
        broker = Broker.from_env(env)
        broker.ws_host  # noqa: B018 (raises without a Web-STOMP URL)
        alive = broker.ping()
    except BrokerError as exc:
        raise DemoFailed(f"--events needs RabbitMQ: {exc}") from exc
    if not alive:
        raise DemoFailed(
            f"--events needs RabbitMQ, and {broker.mgmt_url} does not answer: "
            "start it with `tests/services/rabbitmq up`"
        )
    return broker


def prepare_state_dir(state_dir: str | None) -> Path:
    if not state_dir:
        return Path(tempfile.mkdtemp(prefix="waldur-site-agent-demo-"))
    path = Path(state_dir).resolve()
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name in FILES:  # a previous run's accounts would be adopted, not created
        (path / name).unlink(missing_ok=True)
    return path


def run_demo(
    state_dir: str | None = None,
    serve: bool = False,
    events: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
) -> int:
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    demo: Demo | None = None
    try:
        broker = resolve_broker() if events else None
        demo = Demo(prepare_state_dir(state_dir), events, timeout)
        return _scenario(demo, broker, serve)
    except DemoFailed as exc:
        where = ""
        if demo is not None:
            demo.out.plain()
            demo.out.plain(demo.out.paint(f"demo FAILED: {exc}", "red"))
            demo.stop_agent()
            demo.log_tail()
            where = f" (agent log: {demo.log_path})"
        print(f"demo failed: {exc}{where}", file=sys.stderr, flush=True)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("demo interrupted", file=sys.stderr, flush=True)
        return EXIT_FAILURE
    finally:
        if demo is not None:
            demo.stop()
        signal.signal(signal.SIGTERM, previous)


def _scenario(demo: Demo, broker: Broker | None, serve: bool) -> int:
    out = demo.out
    mode = "events over RabbitMQ (event_process)" if broker else "polling"
    out.plain(out.paint(f"waldur-site-agent demo: state in {demo.state_dir}, {mode}", "bold"))
    demo.deadline = time.monotonic() + demo.timeout
    demo.start(broker)
    a, b = demo.place_creates()
    demo.initial_members(a, b)
    demo.team_changes(a)
    demo.updates(a, b)
    demo.terminate(b)
    demo.usage(a)
    demo.status()
    demo.resources()
    ok = demo.summary()
    if serve:
        try:
            demo.serve()
        except KeyboardInterrupt:
            out.plain()
            out.say("stopping the agent and the simulator")
    demo.stop_agent()
    stopped = demo.agent_exit == EXIT_OK
    out.plain(
        f"agent: SIGTERM -> exit {demo.agent_exit} in {demo.stop_seconds:.1f} s"
        + ("" if stopped else " (" + out.paint("expected 0", "red") + ")")
    )
    out.plain(f"demo took {out.elapsed():.1f} s; agent log and config in {demo.state_dir}")
    if not (ok and stopped):
        demo.log_tail()
        return EXIT_FAILURE
    return EXIT_OK
