"""Order throughput with the metrics endpoint under load: metrics off, then on with 1,000 scrapes
during a 500-order run (docs/monitoring.md; goal: no more than 5% slower).

Run on demand, never part of the test suite:

    .venv/bin/python bench/metrics_load.py [--orders 500] [--scrapes 1000] [--runs 5]
                                           [--json PATH] [--write-docs]

Each run: a fresh Waldur simulator (default scenario), the orders placed, then our agent started in
`order_process` only with the `demo` backend (it answers in microseconds, so the agent is measured)
and timed from its start to every order `done`, as bench/agents.py times it. With metrics on and
scraped, a process of its own (as Prometheus is) scrapes `/metrics` `--scrapes` times on one
kept-open connection (as Prometheus does) once its listener is up, spread evenly over the median
time the runs without metrics took from their first order done to their last, so the scrapes fall
inside the run; the scrapes that did are reported. A run with metrics on and nobody scraping
separates what recording costs from what scrapes cost. Runs alternate off / on / on and scraped to
spread the machine's noise over all; the medians are compared, and so is each scraped run with the
run without metrics just before it. The load average before the runs is reported (other work on the
machine makes the figures noisy). Exit 1 when the goal is not met by both comparisons.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import tomli_w
from common import ROOT, compile_bytecode, describe_machine, machine, now, write_docs

sys.path.insert(0, str(ROOT))

from bench.daemons import all_done
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


SCRAPER = """
import os, signal, socket, sys, time
os.nice(19)  # Prometheus' stand-in: on a site it runs on another host, not on the agent's cores
host, port, count, interval = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
request = f"GET /metrics HTTP/1.1\\r\\nHost: {host}:{port}\\r\\n\\r\\n".encode()
done = failed = 0
def finish(*_):
    print(done, failed, flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, finish)
def connect():
    while True:  # the agent starting: wait for its listener
        try:
            conn = socket.create_connection((host, port), timeout=5)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as Prometheus does
            return conn
        except OSError:
            time.sleep(0.01)
def scrape(conn):
    conn.sendall(request)
    answer = b""
    while b"\\r\\n\\r\\n" not in answer:
        chunk = conn.recv(65536)
        if not chunk:
            raise OSError("closed")
        answer += chunk
    head, _, body = answer.partition(b"\\r\\n\\r\\n")
    length = int(head.lower().split(b"content-length:")[1].split(b"\\r\\n")[0])
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            raise OSError("closed")
        body += chunk
    return head.startswith(b"HTTP/1.1 200")
conn = connect()
due = time.monotonic()
while done + failed < count:
    try:
        if scrape(conn):
            done += 1
        else:
            failed += 1
    except OSError:
        failed += 1
        conn.close()
        conn = connect()
    due += interval
    time.sleep(max(0.0, due - time.monotonic()))
finish()
"""


class Scraper:
    """`count` scrapes of the agent's /metrics, one every `interval` seconds, on one kept-open
    connection, from a process of its own as Prometheus scrapes (a thread here would take the
    simulator's interpreter, which serves the agent its orders, and measure that instead of the
    agent)."""

    def __init__(self, port: int, count: int, interval: float) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", SCRAPER, "127.0.0.1", str(port), str(count), str(interval)],
            stdout=subprocess.PIPE,
            text=True,
        )

    def stop(self) -> int:
        """Scrapes answered so far."""
        if self.process.poll() is None:
            self.process.terminate()
        out, _ = self.process.communicate(30)
        return int(out.split()[0])


def one_run(orders: int, metrics: bool, scrapes: int, interval: float) -> dict[str, float]:
    """One agent run, with or without metrics, scraped `scrapes` times."""
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
        if metrics:
            document["metrics"] = {"enabled": True, "listen_port": port}
        config = Path(scratch) / "agent.toml"
        config.write_text(tomli_w.dumps(document))
        log = (Path(scratch) / "agent.log").open("wb")
        argv = [str(ROOT / ".venv" / "bin" / "waldur-site-agent"), "run", "-c", str(config)]
        started = time.perf_counter()
        agent = subprocess.Popen([*argv, "-m", "order_process"], stdout=log, stderr=log)
        scraper = Scraper(port, scrapes, interval) if scrapes else None
        try:
            deadline = time.monotonic() + 1800
            first_done = 0.0
            # Counted under the simulator's lock, nothing copied: the simulator shares its
            # interpreter with this loop, and serves the agent its orders.
            while not all_done(sim):
                if not first_done and all_done(sim, 1):
                    first_done = time.perf_counter() - started
                if agent.poll() is not None or time.monotonic() > deadline:
                    tail = (Path(scratch) / "agent.log").read_text()[-3000:]
                    raise SystemExit(f"the agent gave up before the orders were done\n{tail}")
                time.sleep(0.005)
            wall = time.perf_counter() - started
            cpu = cpu_seconds(agent.pid)
        finally:
            scraped = scraper.stop() if scraper is not None else 0
            agent.terminate()
            agent.wait(60)
            log.close()
        return {
            "wall_s": wall,
            "orders_per_s": orders / wall,
            "scrapes": scraped,
            "cpu_s": cpu,
            "first_done_s": first_done,
        }


def cpu_seconds(pid: int) -> float:
    """CPU time the process used so far (user and system, /proc/PID/stat): unlike the wall
    time, barely moved by what else runs on the machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def render(result: dict[str, Any]) -> str:
    off, quiet, on = result["off"], result["unscraped"], result["on"]
    ratio, paired = judged(result)
    verdict = "met" if min(ratio, paired) >= GOAL else "NOT met"
    load = " / ".join(f"{a:.2f}" for a in result["load_before"])

    def row(name: str, run: dict[str, float], scraped: str) -> str:
        return (
            f"| {name} | {run['orders_per_s']:.1f} orders/s | {run['wall_s']:.2f} s "
            f"| {run['first_done_s']:.2f} s | {run['cpu_s']:.2f} s | {scraped} |"
        )

    def working(run: dict[str, float]) -> float:
        """Orders a second once the agent started (its first order done to its last)."""
        return (result["orders"] - 1) / (run["wall_s"] - run["first_done_s"])

    return "\n".join(
        [
            f"Measured {result['date']} on {describe_machine(result['machine'])}: "
            f"{result['orders']} create orders, `demo` backend, medians of {result['runs']} "
            f"runs each (alternating); load average before: {load} (1/5/15 min; other work on "
            "the machine).",
            "",
            "| run | throughput | wall | first order done | agent CPU | scrapes during the run |",
            "|---|---:|---:|---:|---:|---:|",
            row("metrics off", off, "-"),
            row("metrics on, not scraped", quiet, "-"),
            row("metrics on, scraped", on, f"{on['scrapes']:.0f} of {result['scrapes']}"),
            "",
            f"Throughput with scrapes / without metrics: {ratio:.3f} (medians), {paired:.3f} "
            f"(median of each run's ratio to the run without metrics before it; goal >= {GOAL} "
            f"for both: {verdict}); each run's ratio: "
            f"{', '.join(f'{r:.3f}' for r in result['ratios'])}. What the "
            "scrapes alone cost, with scrapes / metrics on and not scraped: throughput "
            f"{on['orders_per_s'] / quiet['orders_per_s']:.3f}, the agent's CPU time "
            f"{on['cpu_s'] / quiet['cpu_s']:.3f}. The agent's CPU time with scrapes / without "
            f"metrics: {on['cpu_s'] / off['cpu_s']:.3f}. Throughput once started (first order "
            f"done to last), with scrapes / without metrics: {working(on) / working(off):.3f}; "
            f"with scrapes / metrics on and not scraped: {working(on) / working(quiet):.3f}.",
            "",
        ]
    )


def judged(result: dict[str, Any]) -> tuple[float, float]:
    """Throughput with scrapes / without metrics: the ratio of the medians, and the median of
    the runs' ratios (each scraped run against the run without metrics just before it, so a
    slow spell of the machine weighs on both). The goal holds when both meet it."""
    medians = result["on"]["orders_per_s"] / result["off"]["orders_per_s"]
    return medians, statistics.median(result["ratios"])


def median(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=500, help="create orders (500)")
    parser.add_argument("--scrapes", type=int, default=1000, help="scrapes per run (1000)")
    parser.add_argument("--runs", type=int, default=5, help="runs of each (5)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--write-docs", action="store_true", help="rewrite docs/benchmarks.md")
    args = parser.parse_args(argv)
    compile_bytecode()
    load_before = os.getloadavg()
    runs: dict[str, list[dict[str, float]]] = {"off": [], "unscraped": [], "on": []}
    for _ in range(args.runs):
        runs["off"].append(one_run(args.orders, False, 0, 0.0))
        runs["unscraped"].append(one_run(args.orders, True, 0, 0.0))
        # Spread over the run as the runs without metrics last, from the first order done (the
        # agent's start-up over; the scraper waits for the listener before its first).
        working = [r["wall_s"] - r["first_done_s"] for r in runs["off"]]
        interval = statistics.median(working) / args.scrapes
        runs["on"].append(one_run(args.orders, True, args.scrapes, interval))
        print(json.dumps({kind: done[-1] for kind, done in runs.items()}), file=sys.stderr)
    result = {
        "date": now(),
        "machine": machine(),
        "orders": args.orders,
        "scrapes": args.scrapes,
        "runs": args.runs,
        "load_before": load_before,
        "load_after": os.getloadavg(),
        **{kind: median(done) for kind, done in runs.items()},
        "ratios": [
            on["orders_per_s"] / off["orders_per_s"]
            for off, on in zip(runs["off"], runs["on"], strict=True)
        ],
    }
    table = render(result)
    print(table)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    if args.write_docs:
        write_docs("metrics_load", "Metrics under load", COMMAND, table)
    return 0 if min(judged(result)) >= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
