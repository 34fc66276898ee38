"""Ours against upstream, both as daemons on the same Waldur simulator: orders, event latency,
daemon memory, and how each grows with ten times the work.

Run on demand, never part of the test suite:

    .venv/bin/python bench/agents.py [--orders 500] [--events 30] [--offerings 10]
                                     [--only orders,events,rss] [--scale] [--write-docs]

Each agent gets a fresh simulator with the default scenario. Ours runs the `demo` backend;
upstream runs `simmock` (upstream's own MockBackend with its accounts in a JSON file, see
tests/simulator/upstream_plugin): both backends answer in microseconds, so what is measured is
the agents. HTTP calls are the simulator's own counters, reset after the orders are placed.
The event figures need RabbitMQ: the script runs `tests/services/rabbitmq up` (idempotent).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import tomli_w
import yaml
from common import (
    ROOT,
    compile_bytecode,
    describe_machine,
    machine,
    now,
    percentile,
    rabbitmq_up,
    upstream_venv,
    write_docs,
)

sys.path.insert(0, str(ROOT))

from bench.daemons import all_done, listening, wait
from tests.services.rabbitmq_fixture import forget
from tests.simulator.upstream_plugin import pythonpath
from waldur_site_agent_actors.agent.demo import COMPONENTS
from waldur_site_agent_actors.simulators.waldur import WaldurSimulator
from waldur_site_agent_actors.simulators.waldur.client import ConsumerClient
from waldur_site_agent_actors.simulators.waldur.seed import default_scenario

COMMAND = ".venv/bin/python bench/agents.py --scale --write-docs"
AGENTS = ("ours", "upstream")
# Goals from the issues: ours >= 5x the order throughput with <= 1/3 the HTTP calls, event p50
# <= 1 s, daemon RSS <= 1/2 of upstream's processes.
UPSTREAM_COMPONENTS = {
    name: {**spec, "unit_factor": 1, "limit": 10} for name, spec in COMPONENTS.items()
}

POLL = 0.005
"""How often a wait looks again: the event figure is a latency."""


def scenario(offerings: int) -> dict[str, Any]:
    spec = default_scenario()
    first = spec["offerings"][0]
    for i in range(1, offerings):
        extra = copy.deepcopy(first)
        extra["name"] = f"{first['name']} {i + 1}"
        for plan in extra["plans"]:
            plan["name"] = f"{plan['name']} {i + 1}"
        spec["offerings"].append(extra)
    return spec


class Daemon:
    """One agent's processes against one simulator, their log in `scratch`."""

    def __init__(self, who: str, sim: WaldurSimulator, scratch: Path, venv: Path) -> None:
        self.who, self.sim, self.scratch, self.venv = who, sim, scratch, venv
        self.processes: list[subprocess.Popen[bytes]] = []
        self.log = scratch / f"{who}.log"

    def offerings(self, stomp: dict[str, Any] | None) -> list[dict[str, Any]]:
        summary = self.sim.summary()
        result = []
        for i, offering in enumerate(summary["offerings"]):
            common = {
                "name": f"bench-{i}",
                "waldur_api_url": self.sim.api_url,
                "waldur_api_token": self.sim.provider_token,
                "waldur_offering_uuid": offering["uuid"],
                **(stomp or {}),
            }
            if self.who == "ours":
                backend = {
                    "backend_type": "demo",
                    "backend_settings": {"path": str(self.scratch / f"demo-{i}.sqlite")},
                    "backend_components": COMPONENTS,
                }
            else:
                backend = {
                    "backend_type": "simmock",
                    "order_processing_backend": "simmock",
                    "membership_sync_backend": "simmock",
                    "reporting_backend": "simmock",
                    "backend_settings": {},
                    "backend_components": UPSTREAM_COMPONENTS,
                }
            result.append({**common, **backend})
        return result

    def start(self, modes: list[str], stomp: dict[str, Any] | None = None) -> None:
        out = self.log.open("ab")
        if self.who == "ours":
            config = self.scratch / "ours.toml"
            document = {
                "state_dir": str(self.scratch / "state"),
                "order_process_period_minutes": 60,  # one sweep at start; events do the rest
                "membership_sync_period_minutes": 1,
                "report_period_minutes": 1,
                "reconciliation_period_minutes": 60,
                "offerings": self.offerings(stomp),
            }
            config.write_text(tomli_w.dumps(document))
            argv = [str(ROOT / ".venv" / "bin" / "waldur-site-agent"), "run", "-c", str(config)]
            for mode in modes:
                argv += ["-m", mode]
            self.processes.append(subprocess.Popen(argv, stdout=out, stderr=out))
            return
        config = self.scratch / "upstream.yaml"
        config.write_text(yaml.safe_dump({"offerings": self.offerings(stomp)}))
        env = {
            **os.environ,
            "PYTHONPATH": pythonpath(self.scratch),
            "SIMMOCK_STATE": str(self.scratch / "simmock.json"),
        }
        for mode in modes:  # upstream runs one process per mode
            argv = [str(self.venv / "bin" / "waldur_site_agent"), "-m", mode, "-c", str(config)]
            self.processes.append(subprocess.Popen(argv, stdout=out, stderr=out, env=env))

    def rss_mib(self) -> float:
        total = 0
        for process in self.processes:
            try:
                status = Path(f"/proc/{process.pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        return total / 1024

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.processes)

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])


@contextmanager
def daemon(who: str, sim: WaldurSimulator, venv: Path) -> Iterator[Daemon]:
    with tempfile.TemporaryDirectory(prefix=f"bench-{who}-") as scratch:
        running = Daemon(who, sim, Path(scratch), venv)
        try:
            yield running
        finally:
            running.stop()


def place_orders(sim: WaldurSimulator, count: int, per_offering: bool = False) -> None:
    summary = sim.summary()
    consumer = ConsumerClient(sim.api_url, sim.staff_token)
    offerings, projects = summary["offerings"], summary["projects"]
    try:
        for i in range(count):
            offering = offerings[i % len(offerings)] if per_offering else offerings[0]
            project = projects[i % len(projects)]
            consumer.order(offering["url"], project["url"], {"cpu": 1, "mem": 1}, name=f"b{i}")
    finally:
        consumer.close()


def bench_orders(who: str, count: int, venv: Path) -> dict[str, float]:
    with WaldurSimulator(tick_interval=0) as sim:
        place_orders(sim, count)
        sim.reset_counters()
        with daemon(who, sim, venv) as running:
            started = time.perf_counter()
            running.start(["order_process"])
            wait(running, lambda: all_done(sim), 1800, f"{count} orders done", every=POLL)
            wall = time.perf_counter() - started
            calls = sum(sim.counts().values())
    return {"wall_s": wall, "orders_per_s": count / wall, "calls_per_order": calls / count}


def bench_events(who: str, count: int, venv: Path, broker: Any, ws: dict[str, Any]) -> dict:
    stomp = {
        "stomp_enabled": True,
        "websocket_use_tls": False,
        "stomp_ws_host": ws["host"],
        "stomp_ws_port": ws["port"],
        "stomp_ws_path": ws["path"],
    }
    latencies = []
    with WaldurSimulator(broker=broker, tick_interval=0) as sim:
        summary = sim.summary()
        offering, projects = summary["offerings"][0], summary["projects"]
        consumer = ConsumerClient(sim.api_url, sim.staff_token)
        try:
            with daemon(who, sim, venv) as running:
                running.start(["event_process"], stomp)
                wait(
                    running,
                    lambda: listening(sim, broker),
                    120,
                    "a consumer on its queue",
                    every=0.005,
                )
                time.sleep(2)  # the start-up sweeps are over: what follows is events only
                for i in range(count):
                    started = time.perf_counter()
                    order = consumer.order(offering["url"], projects[i % len(projects)]["url"])
                    wait(
                        running,
                        lambda o=order: done(sim, o["uuid"]),
                        120,
                        "an order by event",
                        every=0.005,
                    )
                    latencies.append(time.perf_counter() - started)
        finally:
            consumer.close()
            forget(broker, sim)
    return {
        "p50_s": statistics.median(latencies),
        "p95_s": percentile(latencies, 95),
        "max_s": max(latencies),
    }


def done(sim: WaldurSimulator, order_uuid: str) -> bool:
    return sim.objects("orders", uuid=order_uuid)[0]["state"] == "done"


def bench_rss(who: str, offerings: int, venv: Path, settle: float) -> dict[str, float]:
    """The polling modes on `offerings` offerings with an order each, after `settle` seconds."""
    with WaldurSimulator(seed=scenario(offerings), tick_interval=0) as sim:
        place_orders(sim, offerings, per_offering=True)
        with daemon(who, sim, venv) as running:
            running.start(["order_process", "membership_sync", "report"])
            wait(running, lambda: all_done(sim), 600, "the first orders", every=POLL)
            deadline, peak = time.monotonic() + settle, 0.0
            while time.monotonic() < deadline:
                peak = max(peak, running.rss_mib())
                time.sleep(0.5)
            return {
                "rss_mib": running.rss_mib(),
                "peak_mib": peak,
                "processes": 1.0 * len(running.processes),
            }


def render(result: dict[str, Any]) -> str:
    lines = [
        f"Measured {result['date']} on {describe_machine(result['machine'])}. Ours: this tree "
        f"(`demo` backend); upstream: waldur-site-agent {result['upstream_version']} "
        "(`simmock` backend). Ratios are upstream / ours (higher is better for ours), except "
        "throughput (ours / upstream).",
        "",
        "| figure | ours | upstream | ratio | goal |",
        "|---|---:|---:|---:|---|",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['figure']} | {row['ours']} | {row['upstream']} | {row['ratio']} "
            f"| {row['goal']} |"
        )
    if result["growth"]:
        lines += ["", "Growth with ten times the work (figure at 10x / figure at 1x):", ""]
        lines += ["| figure | ours | upstream |", "|---|---:|---:|"]
        for row in result["growth"]:
            lines.append(f"| {row['figure']} | {row['ours']:.2f}x | {row['upstream']:.2f}x |")
    return "\n".join(lines) + "\n"


def row(
    figure: str,
    ours: float,
    upstream: float,
    unit: str,
    higher_better: bool,
    goal: float | None = None,
    ceiling: float | None = None,
) -> dict[str, str]:
    """A table row; `goal` is a ratio ours must reach, `ceiling` a value ours must stay under."""
    ratio = ours / upstream if higher_better else upstream / ours
    verdict = ""
    if goal is not None:
        verdict = f"ratio >= {goal:g}x: {'met' if ratio >= goal else 'NOT met'}"
    if ceiling is not None:
        verdict = f"ours <= {ceiling:g} {unit}: {'met' if ours <= ceiling else 'NOT met'}"
    return {
        "figure": figure,
        "ours": f"{ours:.3g} {unit}".strip(),
        "upstream": f"{upstream:.3g} {unit}".strip(),
        "ratio": f"{ratio:.1f}x",
        "goal": verdict,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=500, help="create orders (500)")
    parser.add_argument("--events", type=int, default=30, help="orders placed one by one (30)")
    parser.add_argument("--offerings", type=int, default=10, help="offerings for RSS (10)")
    parser.add_argument("--settle", type=float, default=20.0, help="seconds of RSS sampling (20)")
    parser.add_argument("--only", default="orders,events,rss", help="comma-separated parts")
    parser.add_argument("--scale", action="store_true", help="also at 1/10 of the work")
    parser.add_argument("--upstream-venv", help="use this upstream venv")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--write-docs", action="store_true", help="rewrite docs/benchmarks.md")
    args = parser.parse_args(argv)
    compile_bytecode()
    parts = set(args.only.split(","))
    venv, up_version = upstream_venv(args.upstream_venv)
    rows, growth = [], []

    if "orders" in parts:
        sizes = [args.orders // 10, args.orders] if args.scale else [args.orders]
        runs = {(who, n): bench_orders(who, n, venv) for n in sizes for who in AGENTS}
        big = {who: runs[(who, args.orders)] for who in AGENTS}
        print(json.dumps({f"{w} {n}": r for (w, n), r in runs.items()}), file=sys.stderr)
        rows.append(
            row(
                f"{args.orders} create orders: throughput",
                big["ours"]["orders_per_s"],
                big["upstream"]["orders_per_s"],
                "orders/s",
                True,
                goal=5,
            )
        )
        rows.append(
            row(
                "HTTP calls per create order",
                big["ours"]["calls_per_order"],
                big["upstream"]["calls_per_order"],
                "",
                False,
                goal=3,
            )
        )
        if args.scale:
            growth.append(
                {
                    "figure": "order wall time",
                    **{
                        w: runs[(w, sizes[1])]["wall_s"] / runs[(w, sizes[0])]["wall_s"]
                        for w in AGENTS
                    },
                }
            )
    if "events" in parts:
        broker, ws = rabbitmq_up()
        try:
            latency = {who: bench_events(who, args.events, venv, broker, ws) for who in AGENTS}
        finally:
            broker.close()
        print(json.dumps(latency), file=sys.stderr)
        for key, label in (("p50_s", "p50"), ("p95_s", "p95")):
            rows.append(
                row(
                    f"event -> order done, {label}",
                    latency["ours"][key],
                    latency["upstream"][key],
                    "s",
                    False,
                    ceiling=1.0 if key == "p50_s" else None,
                )
            )
    if "rss" in parts:
        sizes = [1, args.offerings] if args.scale else [args.offerings]
        rss = {(w, n): bench_rss(w, n, venv, args.settle) for n in sizes for w in AGENTS}
        print(json.dumps({f"{w} {n}": r for (w, n), r in rss.items()}), file=sys.stderr)
        ours, up = rss[("ours", args.offerings)], rss[("upstream", args.offerings)]
        rows.append(
            row(
                f"daemon RSS, {args.offerings} offerings, 3 polling modes "
                f"(ours 1 process, upstream {up['processes']:.0f})",
                ours["rss_mib"],
                up["rss_mib"],
                "MiB",
                False,
                goal=2,
            )
        )
        if args.scale:
            growth.append(
                {
                    "figure": f"daemon RSS, 1 -> {args.offerings} offerings",
                    **{
                        w: rss[(w, args.offerings)]["rss_mib"] / rss[(w, 1)]["rss_mib"]
                        for w in AGENTS
                    },
                }
            )

    result = {
        "benchmark": "agents",
        "date": now(),
        "machine": machine(),
        "upstream_version": up_version,
        "rows": rows,
        "growth": growth,
    }
    table = render(result)
    print(table)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    if args.write_docs:
        write_docs("agents", "Agents at work", COMMAND, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
