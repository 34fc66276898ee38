"""CLI start-up: our `waldur-site-agent` against the upstream agent from PyPI.

Run on demand, never part of the test suite:

    .venv/bin/python bench/cli_start.py [--runs 10] [--json [PATH]] [--write-docs]

Each command runs `--runs` times as a child process (after `--warmup` untimed runs that also
compile bytecode). Wall time is `time.perf_counter` around spawn and reap; peak RSS is the child's
own `ru_maxrss` from `os.wait4`, not a `RUSAGE_CHILDREN` delta, which only ever grows.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from common import (
    DOCS,
    ROOT,
    compile_bytecode,
    describe_machine,
    machine,
    now,
    percentile,
    upstream_venv,
    write_docs,
)

COMMAND = ".venv/bin/python bench/cli_start.py --write-docs"
GOAL_HELP = 10.0  # upstream/ours on `--help`: ours at least ten times faster

# Names the `demo` backend, which this repository installs; validate needs an installed backend.
VALIDATE_CONFIG = """\
offerings:
  - name: "Bench"
    waldur_api_url: "http://localhost:8000/api/"
    waldur_api_token: "0123456789abcdef0123456789abcdef01234567"
    waldur_offering_uuid: "00000000000000000000000000000001"
    backend_type: "demo"
    order_processing_backend: "demo"
    reporting_backend: "demo"
    membership_sync_backend: "demo"
    backend_settings: {}
    backend_components:
      cpu:
        limit: 10
        measured_unit: "k-Hours"
        unit_factor: 60000
        accounting_type: "usage"
        label: "CPU"
"""


@dataclass
class Case:
    key: str
    label: str
    argv: list[str]
    times: list[float] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        return {
            "median_s": statistics.median(self.times),
            "p95_s": percentile(self.times, 95),
            "median_maxrss_mib": statistics.median(self.rss_kib) / 1024,
        }


def run_once(argv: list[str]) -> tuple[float, int, int, str]:
    """(wall seconds, child's peak RSS in KiB, exit code, stderr) of one run of `argv`."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err
        )
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    # Linux reports ru_maxrss in KiB, macOS in bytes.
    rss = usage.ru_maxrss // 1024 if sys.platform == "darwin" else usage.ru_maxrss
    return elapsed, rss, proc.returncode, stderr


def measure(case: Case, runs: int, warmup: int) -> None:
    for i in range(warmup + runs):
        elapsed, rss, code, stderr = run_once(case.argv)
        if code != 0:
            raise SystemExit(f"{' '.join(case.argv)}: exit {code}\n{stderr}")
        if i >= warmup:
            case.times.append(elapsed)
            case.rss_kib.append(rss)


def ours_version(bindir: Path) -> str:
    out = subprocess.run(
        [str(bindir / "waldur-site-agent"), "version"], capture_output=True, text=True, check=True
    ).stdout
    return out.split()[-1] if out.strip() else "unknown"


def ratio(cases: dict[str, Case], upstream: str, ours: str) -> dict[str, object] | None:
    if upstream not in cases or ours not in cases:
        return None
    up, us = cases[upstream].summary(), cases[ours].summary()
    return {
        "upstream": upstream,
        "ours": ours,
        "time": up["median_s"] / us["median_s"],
        "p95_time": up["p95_s"] / us["p95_s"],
        "maxrss": up["median_maxrss_mib"] / us["median_maxrss_mib"],
    }


def render(result: dict) -> str:
    m = result["machine"]
    lines = [
        f"Measured {result['date']} on {describe_machine(m)}; "
        f"{result['runs']} runs each after {result['warmup']} warm-up. "
        f"Ours: waldur-site-agent-actors {result['ours_version']}; "
        f"upstream: waldur-site-agent {result['upstream_version']} (+ waldur-site-agent-slurm).",
        "",
        "| command | median | p95 | median max RSS |",
        "|---|---:|---:|---:|",
    ]
    for case in result["cases"].values():
        s = case["summary"]
        lines.append(
            f"| {case['label']} | {s['median_s'] * 1000:.0f} ms | {s['p95_s'] * 1000:.0f} ms "
            f"| {s['median_maxrss_mib']:.1f} MiB |"
        )
    lines += [
        "",
        "| upstream / ours | time (median) | time (p95) | max RSS |",
        "|---|---:|---:|---:|",
    ]
    labels = {k: c["label"] for k, c in result["cases"].items()}
    for r in result["ratios"]:
        lines.append(
            f"| {labels[r['upstream']]} / {labels[r['ours']]} | {r['time']:.1f}x "
            f"| {r['p95_time']:.1f}x | {r['maxrss']:.1f}x |"
        )
    lines.append("")
    goal = result["goal"]
    verdict = "met" if goal["met"] else "NOT met"
    lines.append(
        f"Goal: ours at least {goal['ratio']:.0f}x faster than upstream on `--help` "
        f"(time ratio upstream/ours >= {goal['ratio']:.0f}): {verdict} "
        f"({goal['measured']:.1f}x)."
    )
    for note in result["notes"]:
        lines.append(f"\nNote: {note}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="timed runs per command (10)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs first (1)")
    parser.add_argument(
        "--ours-bin",
        default=str(ROOT / ".venv" / "bin"),
        help="directory holding our waldur-site-agent (default: the repository's .venv/bin)",
    )
    parser.add_argument(
        "--upstream-venv", help="use this upstream venv instead of bench/upstream_venv.sh's"
    )
    parser.add_argument(
        "--json", nargs="?", const="-", metavar="PATH", help="write results as JSON ('-': stdout)"
    )
    parser.add_argument(
        "--write-docs", action="store_true", help=f"rewrite the CLI start section of {DOCS.name}"
    )
    args = parser.parse_args(argv)
    compile_bytecode()
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    bindir = Path(args.ours_bin)
    ours = str(bindir / "waldur-site-agent")
    venv, up_version = upstream_venv(args.upstream_venv)
    notes: list[str] = []

    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.yaml"
        config.write_text(VALIDATE_CONFIG)
        cases = [
            Case("ours_help", "ours `waldur-site-agent --help`", [ours, "--help"]),
            Case("ours_version", "ours `waldur-site-agent version`", [ours, "version"]),
            Case(
                "ours_validate",
                "ours `waldur-site-agent validate -c config.yaml`",
                [ours, "validate", "-c", str(config)],
            ),
            Case(
                "ours_legacy_help",
                "ours `waldur_site_agent --help`",
                [str(bindir / "waldur_site_agent"), "--help"],
            ),
            Case(
                "upstream_help",
                "upstream `waldur_site_agent --help`",
                [str(venv / "bin" / "waldur_site_agent"), "--help"],
            ),
        ]
        _, _, code, stderr = run_once(cases[2].argv)
        if code != 0:
            cases.pop(2)
            notes.append(
                "`validate` not measured: it needs an installed backend plugin and the `demo` "
                f"config did not validate (exit {code}: {stderr.strip()[:200]})."
            )
        for case in cases:
            print(f"measuring {case.label} ...", file=sys.stderr)
            measure(case, args.runs, args.warmup)

    by_key = {c.key: c for c in cases}
    ratios = [
        r
        for r in (
            ratio(by_key, "upstream_help", "ours_help"),
            ratio(by_key, "upstream_help", "ours_legacy_help"),
            ratio(by_key, "upstream_help", "ours_validate"),
        )
        if r
    ]
    help_ratio = float(ratios[0]["time"])  # type: ignore[arg-type]
    result = {
        "benchmark": "cli_start",
        "date": now(),
        "machine": machine(),
        "runs": args.runs,
        "warmup": args.warmup,
        "ours_version": ours_version(bindir),
        "upstream_version": up_version,
        "cases": {c.key: {**asdict(c), "summary": c.summary()} for c in cases},
        "ratios": ratios,
        "goal": {"ratio": GOAL_HELP, "measured": help_ratio, "met": help_ratio >= GOAL_HELP},
        "notes": notes,
    }
    table = render(result)
    print(table)
    if args.json == "-":
        print(json.dumps(result, indent=2))
    elif args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json}", file=sys.stderr)
    if args.write_docs:
        write_docs("cli_start", "CLI start", COMMAND, table)
    return 0 if result["goal"]["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
