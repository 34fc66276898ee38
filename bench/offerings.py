"""Many offerings in one daemon: ours (one process) against upstream (its 3 polling processes),
the same config of N offerings, one create order waiting in each.

    .venv/bin/python bench/offerings.py [--offerings 10 --offerings 100] [--settle 5] [--write-docs]

Ours runs the `demo` backend, upstream its own `MockBackend` (accounts in memory), both every
polling mode (`order_process`, `membership_sync`, `report`, each period 1 minute). Measured from
spawning the agent: the first order done (start-up and a first sweep), every offering's order
done (the last one says whether an offering was starved: each must be done within one order
period), then, `--settle` seconds later, resident memory and threads summed over the processes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import compile_bytecode, describe_machine, machine, now, upstream_venv, write_docs
from bench.daemons import all_done, daemon, many_offerings, order_times, wait
from bench.limits import place_orders
from waldur_site_agent_actors.simulators.waldur import WaldurSimulator
from waldur_site_agent_actors.simulators.waldur.seed import default_scenario

COMMAND = ".venv/bin/python bench/offerings.py --write-docs"
MODES = ["order_process", "membership_sync", "report"]
PERIOD_S = 60.0
RSS_GOAL = 8.0  # upstream / ours


def run(who: str, plugin: str, offerings: int, venv: Path, settle: float) -> dict[str, Any]:
    with WaldurSimulator(many_offerings(default_scenario(), offerings), tick_interval=0) as sim:
        for index in range(offerings):
            place_orders(sim, 1, offering=index)
        with daemon(who, plugin, sim, venv) as running:
            started = time.time()
            running.start(MODES, periods={m: PERIOD_S / 60 for m in MODES}, offerings=offerings)
            wait(running, lambda: all_done(sim), 900, f"{offerings} orders done")
            done = sorted(t[2] - started for t in order_times(sim).values() if t[2] is not None)
            time.sleep(settle)
            return {
                "first_done_s": done[0],
                "all_done_s": done[-1],
                "rss_mib": running.rss_mib(),
                "threads": running.threads(),
                "processes": len(running.processes),
            }


def render(r: dict[str, Any]) -> str:
    lines = [
        f"Measured {r['date']} on {describe_machine(r['machine'])}; upstream: waldur-site-agent "
        f"{r['upstream_version']} (`MockBackend`, its 3 polling processes); ours `demo`, one "
        f"process. Every mode's period {PERIOD_S:.0f} s; times from spawning the agent.",
        "",
        "| offerings | agent | first order done | every offering's order done | RSS | threads |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for n, runs in r["runs"].items():
        for who in ("ours", "upstream"):
            x = runs[who]
            lines.append(
                f"| {n} | {who} ({x['processes']} process(es)) | {x['first_done_s']:.1f} s "
                f"| {x['all_done_s']:.1f} s | {x['rss_mib']:.1f} MiB | {x['threads']} |"
            )
    lines += ["", "| offerings | RSS upstream / ours | goal | no offering starved (ours) |"]
    lines += ["|---:|---:|---|---|"]
    for n, runs in r["runs"].items():
        ratio = runs["upstream"]["rss_mib"] / runs["ours"]["rss_mib"]
        starved = runs["ours"]["all_done_s"] > PERIOD_S
        lines.append(
            f"| {n} | {ratio:.1f}x | >= {RSS_GOAL:g}x: {'met' if ratio >= RSS_GOAL else 'NOT met'} "
            f"| {'NOT met' if starved else 'met'}: last order done "
            f"{runs['ours']['all_done_s']:.1f} s after start, period {PERIOD_S:.0f} s |"
        )
    sizes = sorted(r["runs"], key=int)
    if len(sizes) > 1:
        small, big = r["runs"][sizes[0]], r["runs"][sizes[-1]]
        factor = int(sizes[-1]) / int(sizes[0])
        lines += ["", f"Growth, {sizes[0]} -> {sizes[-1]} offerings ({factor:g}x):", ""]
        lines += ["| figure | ours | upstream |", "|---|---:|---:|"]
        for key, label in (
            ("rss_mib", "RSS"),
            ("threads", "threads"),
            ("all_done_s", "every order done"),
        ):
            lines.append(
                f"| {label} | {big['ours'][key] / small['ours'][key]:.2f}x "
                f"| {big['upstream'][key] / small['upstream'][key]:.2f}x |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--offerings", type=int, action="append")
    parser.add_argument("--settle", type=float, default=5.0)
    parser.add_argument("--upstream-venv", help="use this upstream venv")
    parser.add_argument("--write-docs", action="store_true", help="rewrite docs/benchmarks.md")
    args = parser.parse_args(argv)
    compile_bytecode()
    venv, version = upstream_venv(args.upstream_venv)
    result: dict[str, Any] = {
        "date": now(),
        "machine": machine(),
        "upstream_version": version,
        "runs": {},
    }
    for n in args.offerings or [10, 100]:
        result["runs"][str(n)] = {
            who: run(who, plugin, n, venv, args.settle)
            for who, plugin in (("ours", "demo"), ("upstream", "mock"))
        }
        print(n, json.dumps(result["runs"][str(n)]), file=sys.stderr)
    table = render(result)
    print(table)
    if args.write_docs:
        write_docs("offerings", "Many offerings in one daemon", COMMAND, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
