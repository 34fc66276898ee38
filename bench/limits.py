"""The limits the agents are measured against, taken in the same run as each figure: what the
Waldur simulator serves of the exact calls a create order and a usage report make, and what a
backend costs per operation with no agent around it.

    .venv/bin/python bench/limits.py [--orders 500] [--accounts 5000] [--clients 1,4,16]

The simulator runs in the benchmark's process, as it does for the agents' figures; the calls come
from a child process (the agents are child processes too) with N client threads, each on one
HTTP/1.1 keep-alive connection (stdlib `http.client`: `requests` costs more client CPU per call
than the simulator does to answer it). The calls are the ones this agent makes, with the same
bodies: a create order is `approve_by_provider`, the resource's `set_backend_id` and
`set_state_done`; a usage report is one `set_usage` per resource, then one `set_user_usages` per
component usage. Each figure of the other scripts is printed as a fraction of these limits.
"""

from __future__ import annotations

import argparse
import http.client
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, compile_bytecode
from waldur_site_agent_actors.agent.demo import COMPONENTS
from waldur_site_agent_actors.simulators.waldur import WaldurSimulator
from waldur_site_agent_actors.simulators.waldur.client import ConsumerClient

CLIENTS = (1, 4, 16)
Call = tuple[str, str, Any]
"""method, path under /api/, JSON body (or None)"""


# -- the Waldur side ------------------------------------------------------------------------------


def drive(sim: WaldurSimulator, token: str, phases: list[list[list[Call]]], clients: int) -> dict:
    """Play `phases` (each a list of jobs, each job a list of calls made in order) against `sim`
    from a child process with `clients` threads; returns seconds, requests and errors."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as plan:
        json.dump({"url": sim.api_url, "token": token, "clients": clients, "phases": phases}, plan)
    try:
        out = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--play", plan.name],
            check=True,
            capture_output=True,
            text=True,
            timeout=1800,
            cwd=ROOT,
        ).stdout
    finally:
        Path(plan.name).unlink()
    return dict(json.loads(out))


def play(plan: dict[str, Any]) -> dict[str, Any]:
    """In the child: every phase's jobs shared among the threads, phase after phase."""
    parts = urlsplit(plan["url"])
    headers = {"Authorization": f"Token {plan['token']}", "Content-Type": "application/json"}
    prefix = parts.path.rstrip("/") + "/"
    requests_done, errors = [0], [0]
    lock = threading.Lock()

    def worker(jobs: list[list[Call]], cursor: Iterator[int]) -> None:
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
        made = failed = 0
        while True:
            with lock:
                index = next(cursor, None)
            if index is None or index >= len(jobs):
                break
            for method, path, body in jobs[index]:
                data = json.dumps(body) if body is not None else None
                connection.request(method, prefix + path, body=data, headers=headers)
                response = connection.getresponse()
                response.read()
                made += 1
                failed += response.status >= 400
        connection.close()
        with lock:
            requests_done[0] += made
            errors[0] += failed

    started = time.perf_counter()
    for jobs in plan["phases"]:
        cursor = iter(range(len(jobs)))
        threads = [
            threading.Thread(target=worker, args=(jobs, cursor)) for _ in range(plan["clients"])
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "requests": requests_done[0], "errors": errors[0]}


def place_orders(sim: WaldurSimulator, count: int, offering: int = 0) -> list[dict[str, Any]]:
    """`count` create orders on the `offering`-th offering, spread over the projects."""
    summary = sim.summary()
    target, projects = summary["offerings"][offering], summary["projects"]
    consumer = ConsumerClient(sim.api_url, sim.staff_token)
    try:
        return [
            consumer.order(
                target["url"],
                projects[i % len(projects)]["url"],
                {"cpu": 1, "mem": 1},
                name=f"b{i}",
            )
            for i in range(count)
        ]
    finally:
        consumer.close()


def order_limit(count: int, clients: int) -> dict[str, float]:
    """Create orders per second the simulator completes with the calls this agent makes."""
    with WaldurSimulator(tick_interval=0) as sim:
        orders = place_orders(sim, count)
        jobs = [
            [
                ("POST", f"marketplace-orders/{o['uuid']}/approve_by_provider/", None),
                (
                    "POST",
                    f"marketplace-provider-resources/{o['marketplace_resource_uuid']}"
                    "/set_backend_id/",
                    {"backend_id": f"limit_{i}"},
                ),
                ("POST", f"marketplace-orders/{o['uuid']}/set_state_done/", None),
            ]
            for i, o in enumerate(orders)
        ]
        result = drive(sim, sim.provider_token, [jobs], clients)
        undone = [o for o in sim.objects("orders") if o["state"] != "done"]
    if result["errors"] or undone:
        raise SystemExit(f"order limit: {result['errors']} errors, {len(undone)} orders not done")
    return per_second(result, count)


def usage_limit(sim_seed: dict[str, Any], clients: int, report: dict[str, dict]) -> dict:
    """Resources per second whose usage (totals, then per user) the simulator takes: `report` is
    {resource backend id: {user: {component: amount}}}, sent as this agent sends it."""
    stamp = datetime.now(UTC).date().replace(day=1).isoformat()
    with WaldurSimulator(sim_seed, tick_interval=0) as sim:
        with sim.state.lock:
            uuids = {r["backend_id"]: r["uuid"] for r in sim.state.all("resources")}
        report = {uuids[backend_id]: users for backend_id, users in report.items()}
        totals = [
            [
                (
                    "POST",
                    "marketplace-component-usages/set_usage/",
                    {
                        "resource": uuid,
                        "date": stamp,
                        "usages": [
                            {"type": c, "amount": f"{sum(u.get(c, 0) for u in users.values()):.2f}"}
                            for c in sorted({c for u in users.values() for c in u})
                        ],
                    },
                )
            ]
            for uuid, users in report.items()
        ]
        first = drive(sim, sim.provider_token, [totals], clients)
        per_user = []
        with sim.state.lock:
            for cu in sim.state.all("component_usages"):
                users = report.get(cu["resource"], {})
                body = [
                    {"username": u, "usage": f"{a.get(cu['type'], 0):.2f}", "date": stamp}
                    for u, a in sorted(users.items())
                ]
                per_user.append(
                    [
                        (
                            "POST",
                            f"marketplace-component-usages/{cu['uuid']}/set_user_usages/",
                            {"usages": body},
                        )
                    ]
                )
        second = drive(sim, sim.provider_token, [per_user], clients)
    merged = {k: first[k] + second[k] for k in ("seconds", "requests", "errors")}
    if merged["errors"]:
        raise SystemExit(f"usage limit: {merged['errors']} errors")
    return per_second(merged, len(report))


def per_second(result: dict[str, Any], jobs: int) -> dict[str, float]:
    return {
        "seconds": result["seconds"],
        "requests_per_s": result["requests"] / result["seconds"],
        "jobs_per_s": jobs / result["seconds"],
        "calls_per_job": result["requests"] / jobs,
    }


def best(measure: Any, clients: tuple[int, ...]) -> dict[str, Any]:
    """`measure(n)` for each client count; the best is the limit."""
    runs = {n: measure(n) for n in clients}
    top = max(runs, key=lambda n: runs[n]["jobs_per_s"])
    return {"by_clients": runs, "clients": top, **runs[top]}


# -- the demo backend -----------------------------------------------------------------------------


@contextmanager
def demo_backend() -> Iterator[Any]:
    from waldur_site_agent_actors.backends.demo.backend import DemoBackend

    with tempfile.TemporaryDirectory(prefix="bench-demo-") as scratch:
        yield DemoBackend({"path": str(Path(scratch) / "demo.sqlite")}, COMPONENTS)


def demo_costs(creates: int, accounts: int) -> dict[str, float]:
    """Seconds per create as the order actor drives the plugin (candidates, claim, create,
    limits), and for one usage report of `accounts` accounts with two users each."""
    from waldur_site_agent_actors.backends.structures import WaldurResource

    with demo_backend() as backend:
        started = time.perf_counter()
        for i in range(creates):
            target = WaldurResource(
                uuid=f"{i:032x}", name=f"r{i}", slug=f"r{i}", limits={"cpu": 1, "mem": 1}
            )
            name = backend.backend_id_candidates(target)[0]
            backend.claim(target, name)
            backend.create_resource_with_id(target.with_backend_id(name), name, {})
            backend.collect_limits(target)
        create = (time.perf_counter() - started) / creates
    with demo_backend() as backend:
        ids = seed_demo_accounts(backend.demo.store, accounts)
        started = time.perf_counter()
        backend.get_usage_report(ids)
        report = time.perf_counter() - started
    return {"create_s": create, "usage_report_s": report, "accounts": accounts}


def seed_demo_accounts(
    store: Any, accounts: int, users: tuple[str, ...] = ("alice", "bob")
) -> list:
    """`accounts` demo accounts with `users` associated, written in one transaction."""
    ids = [f"demo_bench_{i:05d}" for i in range(accounts)]
    now = time.time()
    store.db.execute("BEGIN")
    store.db.executemany(
        "INSERT OR IGNORE INTO accounts VALUES (?, '', '', '', 'active', ?)",
        [(name, now) for name in ids],
    )
    store.db.executemany(
        "INSERT OR IGNORE INTO associations VALUES (?, ?)",
        [(name, user) for name in ids for user in users],
    )
    store.db.execute("COMMIT")
    return ids


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--play", help=argparse.SUPPRESS)
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--clients", default=",".join(map(str, CLIENTS)))
    args = parser.parse_args()
    compile_bytecode()
    if args.play:
        print(json.dumps(play(json.loads(Path(args.play).read_text()))))
        return 0
    clients = tuple(int(n) for n in args.clients.split(","))
    limit = best(lambda n: order_limit(args.orders, n), clients)
    for n, run in limit["by_clients"].items():
        print(
            f"{args.orders} create orders, {n} client(s): {run['jobs_per_s']:.0f} orders/s, "
            f"{run['requests_per_s']:.0f} requests/s"
        )
    costs = demo_costs(args.orders, 5000)
    print(
        f"demo backend: {costs['create_s'] * 1000:.2f} ms per create, "
        f"{costs['usage_report_s']:.2f} s per usage report of {costs['accounts']} accounts"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
