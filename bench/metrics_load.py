"""Order throughput with the metrics endpoint under load: metrics off, then on with 1,000 scrapes
during a 500-order run (docs/monitoring.md; goal: no more than 5% slower).

Run on demand, never part of the test suite:

    .venv/bin/python bench/metrics_load.py [--orders 500] [--scrapes 1000] [--runs 3]
                                           [--json PATH] [--write-docs]

Each run: a fresh Waldur simulator (default scenario), the orders placed, then our agent started
in `order_process` only with the `demo` backend (it answers in microseconds, so the agent is
measured) and timed from its start to every order `done`, as bench/agents.py times it. With
metrics on, a thread scrapes `/metrics` `--scrapes` times, spread evenly over the median wall
time of the runs without metrics, so the scrapes fall inside the run; the scrapes that did are
reported. Runs alternate off/on to spread the machine's noise over both; the median of each is
compared. Exit 1 when the goal is not met.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import tomli_w
from common import ROOT, describe_machine, machine, now, write_docs

sys.path.insert(0, str(ROOT))

from waldur_site_agent_actors.agent.demo import COMPONENTS
from waldur_site_agent_actors.simulators.waldur import WaldurSimulator
from waldur_site_agent_actors.simulators.waldur.client import ConsumerClient

COMMAND = ".venv/bin/python bench/metrics_load.py --write-docs"
GOAL = 0.95  # throughput with scrapes / without


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def place_orders(sim: WaldurSimulator, count: int) -> None:
    summary = sim.summary()
    offering, projects = summary["offerings"][0], summary["projects"]
    consumer = ConsumerClient(sim.api_url, sim.staff_token)
    try:
        for i in range(count):
            project = projects[i % len(projects)]
            consumer.order(offering["url"], project["url"], {"cpu": 1, "mem": 1}, name=f"m{i}")
    finally:
        consumer.close()


def all_done(sim: WaldurSimulator) -> bool:
    return all(order["state"] == "done" for order in sim.objects("orders"))


class Scraper(threading.Thread):
    """`count` scrapes of `url`, one every `interval` seconds, until told to stop."""

    def __init__(self, url: str, count: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.url, self.count, self.interval = url, count, interval
        self.done = 0
        self.failed = 0
        self.stop = threading.Event()

    def run(self) -> None:
        due = time.monotonic()
        while self.done + self.failed < self.count and not self.stop.is_set():
            try:
                with urllib.request.urlopen(self.url, timeout=5) as answer:  # noqa: S310 - http URL made here
                    answer.read()
                self.done += 1
            except OSError:
                self.failed += 1  # the listener is not up yet: counted, not hidden
            due += self.interval
            self.stop.wait(max(0.0, due - time.monotonic()))


def one_run(orders: int, scrapes: int, interval: float) -> dict[str, float]:
    """One agent run; `scrapes` 0 means metrics off."""
    with WaldurSimulator(tick_interval=0) as sim, tempfile.TemporaryDirectory() as scratch:
        place_orders(sim, orders)
        offering = sim.summary()["offerings"][0]
        port = free_port()
        document: dict[str, Any] = {
            "state_dir": str(Path(scratch) / "state"),
            "order_process_period_minutes": 60,
            "offerings": [
                {
                    "name": "bench",
                    "waldur_api_url": sim.api_url,
                    "waldur_api_token": sim.provider_token,
                    "waldur_offering_uuid": offering["uuid"],
                    "backend_type": "demo",
                    "backend_settings": {"path": str(Path(scratch) / "demo.sqlite")},
                    "backend_components": COMPONENTS,
                }
            ],
        }
        if scrapes:
            document["metrics"] = {"enabled": True, "listen_port": port}
        config = Path(scratch) / "agent.toml"
        config.write_text(tomli_w.dumps(document))
        log = (Path(scratch) / "agent.log").open("wb")
        argv = [str(ROOT / ".venv" / "bin" / "waldur-site-agent"), "run", "-c", str(config)]
        scraper = Scraper(f"http://127.0.0.1:{port}/metrics", scrapes, interval)
        started = time.perf_counter()
        agent = subprocess.Popen([*argv, "-m", "order_process"], stdout=log, stderr=log)
        try:
            if scrapes:
                scraper.start()
            deadline = time.monotonic() + 1800
            while not all_done(sim):
                if agent.poll() is not None or time.monotonic() > deadline:
                    tail = (Path(scratch) / "agent.log").read_text()[-3000:]
                    raise SystemExit(f"the agent gave up before the orders were done\n{tail}")
                time.sleep(0.005)
            wall = time.perf_counter() - started
        finally:
            scraper.stop.set()
            agent.terminate()
            agent.wait(60)
            log.close()
        return {"wall_s": wall, "orders_per_s": orders / wall, "scrapes": scraper.done}


def render(result: dict[str, Any]) -> str:
    off, on = result["off"], result["on"]
    ratio = on["orders_per_s"] / off["orders_per_s"]
    verdict = "met" if ratio >= GOAL else "NOT met"
    return "\n".join(
        [
            f"Measured {result['date']} on {describe_machine(result['machine'])}: "
            f"{result['orders']} create orders, `demo` backend, medians of {result['runs']} "
            "runs each (alternating).",
            "",
            "| run | throughput | wall | scrapes during the run |",
            "|---|---:|---:|---:|",
            f"| metrics off | {off['orders_per_s']:.1f} orders/s | {off['wall_s']:.2f} s | - |",
            f"| metrics on, scraped | {on['orders_per_s']:.1f} orders/s | {on['wall_s']:.2f} s "
            f"| {on['scrapes']:.0f} of {result['scrapes']} |",
            "",
            f"Throughput with scrapes / without: {ratio:.3f} (goal >= {GOAL}: {verdict}).",
            "",
        ]
    )


def median(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=500, help="create orders (500)")
    parser.add_argument("--scrapes", type=int, default=1000, help="scrapes per run (1000)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each (3)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--write-docs", action="store_true", help="rewrite docs/benchmarks.md")
    args = parser.parse_args(argv)
    off_runs: list[dict[str, float]] = []
    on_runs: list[dict[str, float]] = []
    for _ in range(args.runs):
        off_runs.append(one_run(args.orders, 0, 0.0))
        # Spread over the run as the runs without metrics last.
        interval = statistics.median(r["wall_s"] for r in off_runs) / args.scrapes
        on_runs.append(one_run(args.orders, args.scrapes, interval))
        print(json.dumps({"off": off_runs[-1], "on": on_runs[-1]}), file=sys.stderr)
    result = {
        "date": now(),
        "machine": machine(),
        "orders": args.orders,
        "scrapes": args.scrapes,
        "runs": args.runs,
        "off": median(off_runs),
        "on": median(on_runs),
    }
    table = render(result)
    print(table)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    if args.write_docs:
        write_docs("metrics_load", "Metrics under load", COMMAND, table)
    return 0 if result["on"]["orders_per_s"] / result["off"]["orders_per_s"] >= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
