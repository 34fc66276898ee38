"""Create orders: ours against upstream, like with like and each on its fastest path, as a
fraction of the measured limit, with growth and under faults.

    .venv/bin/python bench/orders.py [--orders 500] [--repeat 3] [--write-docs]
    .venv/bin/python bench/orders.py --only native,faults

Each run: a fresh simulator holding N create orders of one offering, its counters reset, then
the agent started in `order_process` only and timed until every order is `done`. Two figures per
run: the wall time from the start (upstream's start-up included, as an operator waits for it)
and the steady rate, orders completed per second from the first completion to the last (start-up
left out); completion times are the simulator's own `completed_at`. HTTP calls per order are the
simulator's counters. Runs are repeated (`--repeat`): the median is shown with the range.

| part | ours | upstream |
|---|---|---|
| `native` | `demo` (SQLite) | upstream's `MockBackend` (in memory) |
| `guide` | the guide's plugin behind the adapter | the guide's plugin |
| `growth` | the native runs at 1/10 of the orders | the same |
| `faults` | `demo`, 20% of Waldur calls failing, one `approve` held too long | - |

Faults: 10% of calls reset, 10% answered 503; separately one `approve` held past the client's
read timeout.

The limit (bench/limits.py, same run): the simulator's create orders per second with the calls
this agent makes (best of 1, 4, 16 clients), and the plugin's own cost per create; an agent can
do no better than the lower of the two (one backend actor serialises the backend).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import compile_bytecode, describe_machine, machine, now, upstream_venv, write_docs
from bench.daemons import GUIDE, all_done, daemon, guide_python, order_times, wait
from bench.limits import best, demo_costs, order_limit, place_orders
from waldur_site_agent_actors.simulators.waldur import WaldurSimulator

COMMAND = ".venv/bin/python bench/orders.py --write-docs"
PARTS = ("native", "guide", "growth", "faults")
READ_TIMEOUT = 60.0  # this agent's Waldur client (actors/waldur/client.py)
GOALS = {"throughput": 15.0, "limit": 0.5, "calls": 3.0, "faults": 1 / 3}


def run_orders(
    who: str, plugin: str, count: int, venv: Path, faults: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    with WaldurSimulator(tick_interval=0) as sim:
        place_orders(sim, count)
        sim.reset_counters()
        for rule in faults or []:
            sim.add_fault(**rule)
        with daemon(who, plugin, sim, venv) as running:
            started = time.time()
            running.start(["order_process"])
            wait(running, lambda: all_done(sim, count), 1800, f"{count} orders done")
            wall = time.time() - started
        sim.clear_faults()
        calls = sum(sim.counts().values())
        times = order_times(sim)
    completed = sorted(t[2] for t in times.values() if t[2] is not None)
    steady = (len(completed) - 1) / (completed[-1] - completed[0]) if len(completed) > 1 else 0.0
    since_start = sorted(c - started for c in completed)
    return {
        "wall_s": wall,
        "orders_per_s": count / wall,
        "steady_per_s": steady,
        "first_done_s": since_start[0],
        "calls_per_order": calls / count,
        "done_after_s": since_start,
    }


def repeated(times: int, measure: Any) -> dict[str, Any]:
    runs = [measure() for _ in range(times)]
    keys = ("wall_s", "orders_per_s", "steady_per_s", "first_done_s", "calls_per_order")
    return {
        "runs": [{k: r[k] for k in keys} for r in runs],
        **{k: statistics.median(r[k] for r in runs) for k in keys},
        **{f"{k}_range": (min(r[k] for r in runs), max(r[k] for r in runs)) for k in keys},
        "done_after_s": runs[0]["done_after_s"],
    }


GUIDE_COST = """
import json, sys, tempfile, time
sys.path.insert(0, sys.argv[2])
from waldur_site_agent_mycustom.client import MyCustomClient
count = int(sys.argv[1])
with tempfile.TemporaryDirectory() as scratch:
    client = MyCustomClient(scratch + "/state.json")
    started = time.perf_counter()
    for i in range(count):
        name = f"guide_{i}"
        client.get_resource(name)
        client.create_resource(name, "bench", "org")
        client.set_resource_limits(name, {"cpu": 60000, "mem": 61440})
    print(json.dumps({"create_s": (time.perf_counter() - started) / count}))
"""


def guide_costs(count: int) -> dict[str, float]:
    """The guide plugin's client doing what a create asks of it (look, create, limits) `count`
    times, in the venv that holds upstream's core: its JSON file grows as the orders do."""
    out = subprocess.run(
        [str(guide_python()), "-c", GUIDE_COST, str(count), str(GUIDE)],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    ).stdout
    return dict(json.loads(out))


def fault_rules() -> list[dict[str, Any]]:
    """About 20% of Waldur calls fail: 10% reset without an answer, and 10% of the rest 503."""
    return [{"endpoint": "*", "reset_rate": 0.1, "error_rate": 0.1 / 0.9, "status": 503}]


def slow_call() -> list[dict[str, Any]]:
    """The first `approve` answers nothing for longer than the client waits, then drops."""
    return [
        {
            "endpoint": "POST /api/marketplace-orders/{uuid}/approve_by_provider/",
            "hang": READ_TIMEOUT + 5,
            "times": 1,
        }
    ]


def spread(result: dict[str, Any], key: str, fmt: str = "{:.1f}") -> str:
    low, high = result[f"{key}_range"]
    value = fmt.format(result[key])
    return value if len(result["runs"]) == 1 else f"{value} ({fmt.format(low)}-{fmt.format(high)})"


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def render(r: dict[str, Any]) -> str:
    n, limit = r["orders"], r["limit"]
    lines = [
        f"Measured {r['date']} on {describe_machine(r['machine'])}; load average {r['load']} "
        f"at the start; upstream: waldur-site-agent "
        f"{r['upstream_version']}. {r['repeat']} run(s) each: the median, with the range in "
        "brackets.",
        "",
        f"Limit, same run: the simulator completes {limit['waldur']['jobs_per_s']:.0f} create "
        f"orders/s with this agent's calls ({limit['waldur']['requests_per_s']:.0f} requests/s, "
        f"{limit['waldur']['clients']} clients; "
        + ", ".join(
            f"{c} client(s): {v['jobs_per_s']:.0f}/s"
            for c, v in limit["waldur"]["by_clients"].items()
        )
        + f"). The `demo` backend costs {limit['demo']['create_s'] * 1000:.2f} ms per create "
        f"(the plugin calls of one order, no agent: {1 / limit['demo']['create_s']:.0f}/s); the "
        f"guide's plugin {limit['guide']['create_s'] * 1000:.2f} ms "
        f"({1 / limit['guide']['create_s']:.0f}/s, its JSON file rewritten whole on every "
        f"change). Limit = the lower of the simulator's and the plugin's rate.",
        "",
        "| figure | ours | upstream | ours / upstream | limit | ours / limit | goal |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for row in r["rows"]:
        lines.append("| " + " | ".join(row) + " |")
    if r.get("growth"):
        lines += ["", f"Growth, {n // 10} -> {n} orders (time at 10x the orders / time at 1x):", ""]
        lines += ["| figure | ours | upstream |", "|---|---:|---:|"]
        for label, ours, upstream in r["growth"]:
            lines.append(f"| {label} | {ours:.2f}x | {upstream:.2f}x |")
    if r.get("faults"):
        f = r["faults"]
        share = f["clean_rate"] * GOALS["faults"]
        lines += [
            "",
            f"Under faults (ours, `demo`, {n} orders; fault-free steady rate "
            f"{f['clean_rate']:.1f} orders/s):",
            "",
            "| fault | orders done after | steady rate | share of fault-free | goal |",
            "|---|---:|---:|---:|---|",
            f"| 20% of Waldur calls fail (10% reset, 10% 503) | {f['errors']['wall_s']:.1f} s "
            f"| {f['errors']['steady_per_s']:.1f} orders/s "
            f"| {f['errors']['steady_per_s'] / f['clean_rate']:.2f} "
            f"| >= 1/3: {verdict(f['errors']['steady_per_s'] >= share)} |",
            f"| the first `approve` held {READ_TIMEOUT + 5:.0f} s (client read timeout "
            f"{READ_TIMEOUT:.0f} s) | {f['slow']['wall_s']:.1f} s; the other {n - 1}: "
            f"{f['slow']['others_s']:.1f} s (fault-free {f['clean_wall_s']:.1f} s) | - | - "
            f"| others unaffected: {verdict(f['slow']['others_s'] <= 2 * f['clean_wall_s'])} |",
        ]
    return "\n".join(lines) + "\n"


def rows(r: dict[str, Any]) -> list[list[str]]:
    n, limit, out = r["orders"], r["limit"], []
    waldur = limit["waldur"]["jobs_per_s"]
    for part in ("native", "guide"):
        if part not in r:
            continue
        ours, up = r[part]["ours"], r[part]["upstream"]
        cap = min(waldur, 1 / limit["demo" if part == "native" else "guide"]["create_s"])
        label = (
            "ours `demo`, upstream `MockBackend`"
            if part == "native"
            else "the guide's plugin under both"
        )
        ratio = ours["steady_per_s"] / up["steady_per_s"]
        goal = ""
        if part == "native":
            goal = (
                f">= {GOALS['throughput']:g}x upstream: {verdict(ratio >= GOALS['throughput'])}; "
                f">= {GOALS['limit']:.0%} of limit: "
                f"{verdict(ours['steady_per_s'] >= GOALS['limit'] * cap)}"
            )
        out.append(
            [
                f"{n} create orders, steady rate ({label})",
                f"{spread(ours, 'steady_per_s')} orders/s",
                f"{spread(up, 'steady_per_s')} orders/s",
                f"{ratio:.1f}x",
                f"{cap:.0f} orders/s",
                f"{ours['steady_per_s'] / cap:.0%} (upstream {up['steady_per_s'] / cap:.0%})",
                goal,
            ]
        )
        out.append(
            [
                f"{n} create orders, start to all done ({part})",
                f"{spread(ours, 'wall_s')} s",
                f"{spread(up, 'wall_s')} s",
                f"{up['wall_s'] / ours['wall_s']:.1f}x",
                f"{n / cap:.1f} s",
                "",
                "",
            ]
        )
        out.append(
            [
                f"HTTP calls per create order ({part}): all the run's calls / orders",
                f"{ours['calls_per_order']:.2f}",
                f"{up['calls_per_order']:.2f}",
                f"{up['calls_per_order'] / ours['calls_per_order']:.1f}x fewer",
                f"{limit['waldur']['calls_per_job']:.0f}",
                "",
                "",
            ]
        )
        if "calls_per_further_order" in ours:
            further = ours["calls_per_further_order"]
            out.append(
                [
                    f"HTTP calls per create order ({part}): each further order "
                    f"({n // 10} -> {n} orders; start-up and per-sweep lookups left out)",
                    f"{further:.3f}",
                    f"{up['calls_per_further_order']:.3f}",
                    f"{up['calls_per_further_order'] / further:.1f}x fewer",
                    f"{limit['waldur']['calls_per_job']:.0f}",
                    "",
                    f"<= {GOALS['calls']:g}: {verdict(further <= GOALS['calls'])}",
                ]
            )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default=",".join(PARTS), help="comma-separated parts")
    parser.add_argument("--upstream-venv", help="use this upstream venv")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--write-docs", action="store_true", help="rewrite docs/benchmarks.md")
    args = parser.parse_args(argv)
    compile_bytecode()
    parts = set(args.only.split(","))
    venv, version = upstream_venv(args.upstream_venv)
    n = args.orders
    result: dict[str, Any] = {
        "benchmark": "orders",
        "date": now(),
        "load": ", ".join(f"{x:.2f}" for x in os.getloadavg()),
        "machine": machine(),
        "upstream_version": version,
        "orders": n,
        "repeat": args.repeat,
        "limit": {
            "waldur": best(lambda c: order_limit(n, c), (1, 4, 16)),
            "demo": demo_costs(n, 10),
            "guide": guide_costs(n),
        },
    }
    print(json.dumps(result["limit"]), file=sys.stderr)
    for part, plugins in (("native", ("demo", "mock")), ("guide", ("guide", "guide"))):
        if part in parts:
            result[part] = {
                who: repeated(args.repeat, lambda w=who, p=plugin: run_orders(w, p, n, venv))
                for who, plugin in zip(("ours", "upstream"), plugins, strict=True)
            }
            print(part, json.dumps(result[part]), file=sys.stderr)
    if "growth" in parts and "native" in parts:
        small = {
            who: repeated(args.repeat, lambda w=who, p=plugin: run_orders(w, p, n // 10, venv))
            for who, plugin in (("ours", "demo"), ("upstream", "mock"))
        }
        big = result["native"]
        for who in ("ours", "upstream"):
            # What each further order costs: the run's start-up and per-sweep lookups are the
            # same at both sizes and drop out.
            calls = (
                big[who]["calls_per_order"] * n - small[who]["calls_per_order"] * (n // 10)
            ) / (n - n // 10)
            big[who]["calls_per_further_order"] = calls
        result["growth"] = [
            (
                f"steady rate's time per order, {n // 10} -> {n}",
                *(
                    (n / big[w]["steady_per_s"]) / (n // 10 / small[w]["steady_per_s"])
                    for w in ("ours", "upstream")
                ),
            ),
            (
                f"start to all done, {n // 10} -> {n}",
                *(big[w]["wall_s"] / small[w]["wall_s"] for w in ("ours", "upstream")),
            ),
        ]
    if "faults" in parts:
        clean = result.get("native", {}).get("ours") or repeated(
            1, lambda: run_orders("ours", "demo", n, venv)
        )
        errors = run_orders("ours", "demo", n, venv, fault_rules())
        slow = run_orders("ours", "demo", n, venv, slow_call())
        slow["others_s"] = slow["done_after_s"][-2] if n > 1 else 0.0
        result["faults"] = {
            "clean_rate": clean["steady_per_s"],
            "clean_wall_s": clean["wall_s"],
            "errors": {k: v for k, v in errors.items() if k != "done_after_s"},
            "slow": {k: v for k, v in slow.items() if k != "done_after_s"},
        }
        print("faults", json.dumps(result["faults"]), file=sys.stderr)
    result["rows"] = rows(result)
    table = render(result)
    print(table)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=str) + "\n")
    if args.write_docs:
        write_docs("orders", "Create orders", COMMAND, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
