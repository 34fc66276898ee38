"""Start-up cost of an upstream plugin: the same offering served by this agent's `mup` and by
upstream's `waldur-site-agent-mup` 1.0.7 behind the adapter, in one venv holding both.

Run on demand, never part of the test suite:

    .venv/bin/python bench/upstream_plugin_start.py [--runs 10] [--settle 5] [--write-docs]

The venv is the one the upstream-plugin tests use (tests/upstream_plugins/venv.py: this checkout
editable, upstream's core and plugins from PyPI), built once under `.cache/`. Measured:

- `validate -c config.yaml` for each: wall and CPU time and the child's peak RSS, `--runs`
  times after one warm-up. Validating imports the plugin: upstream's pays for
  `waldur_api_client`.
- the service (`run`) for each, against the Waldur and MUP simulators: RSS of the process
  `--settle` seconds after it made its plugin (its first cycles run at once).
- whether an offering naming this agent's plugin imports `waldur_api_client` at all (it must
  not: only offerings naming an upstream plugin pay for it).
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
from pathlib import Path
from typing import Any

import yaml
from common import ROOT, compile_bytecode, describe_machine, machine, now, percentile, write_docs

sys.path.insert(0, str(ROOT))

from tests.upstream_plugins.venv import upstream_venv
from waldur_site_agent_actors.simulators.mup import MupSimulator
from waldur_site_agent_actors.simulators.waldur import WaldurSimulator

COMMAND = ".venv/bin/python bench/upstream_plugin_start.py --write-docs"
COMPONENTS = {
    "cpu": {"measured_unit": "k-core-hours", "accounting_type": "limit", "label": "CPU",
            "unit_factor": 1000, "mup_allocation_type": "Deucalion x86_64"},
}  # fmt: skip
PROBE = """
import sys
from waldur_site_agent_actors.config import load_file
from waldur_site_agent_actors.actors.plugins import make_backend
config = load_file(sys.argv[1]).config
make_backend("mup", config.offerings[0], config)
print("waldur_api_client" in sys.modules)
"""


def offering(sim_url: str, token: str, uuid: str, mup: Any, upstream: bool) -> dict[str, Any]:
    found = {
        "name": "mup",
        "waldur_api_url": sim_url,
        "waldur_api_token": token,
        "waldur_offering_uuid": uuid,
        "backend_type": "mup",
        "backend_settings": {
            "api_url": mup.api_url,
            "username": mup.username,
            "password": mup.password,
        },
        "backend_components": COMPONENTS,
    }
    if upstream:
        found["plugin_distributions"] = {"mup": "waldur-site-agent-mup"}
    return found


def config_file(directory: Path, name: str, entry: dict[str, Any]) -> Path:
    path = directory / f"{name}.yaml"
    state = directory / f"state-{name}"
    state.mkdir()
    document = {"offerings": [entry], "state_dir": str(state)}
    path.write_text(yaml.safe_dump(document))
    return path


def run_once(argv: list[str]) -> tuple[float, float, int, int, str]:
    """(wall seconds, CPU seconds, peak RSS in KiB, exit code, stderr) of one run of `argv`.
    CPU time (user + system, the child's own from `wait4`) moves little on a loaded machine,
    where wall time does."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        child = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err
        )
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - start
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    cpu = usage.ru_utime + usage.ru_stime
    return elapsed, cpu, usage.ru_maxrss, os.waitstatus_to_exitcode(status), stderr


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def daemon_rss(python: str, config: Path, settle: float) -> float:
    """RSS of `run` `settle` seconds after its offering made its plugin (its first cycles run
    at once)."""
    log = config.with_suffix(".log")
    with log.open("w") as out:
        process = subprocess.Popen(
            [python, "-m", "waldur_site_agent_actors.agent.cli", "run", "-c", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while "backend 'mup'" not in log.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the agent did not run its first cycle:\n{log.read_text()}")
            time.sleep(0.2)
        time.sleep(settle)
        return rss_mib(process.pid)
    finally:
        process.terminate()
        process.wait(30)


def summary(times: list[float], cpu: list[float], rss: list[int]) -> dict[str, float]:
    return {
        "median_s": statistics.median(times),
        "p95_s": percentile(times, 95),
        "median_cpu_s": statistics.median(cpu),
        "median_maxrss_mib": statistics.median(rss) / 1024,
    }


def render(result: dict[str, Any]) -> str:
    cases = result["cases"]
    lines = [
        f"Measured {result['date']} on {describe_machine(result['machine'])}; "
        f"{result['runs']} runs each after 1 warm-up; the service's RSS {result['settle']:g} s "
        "after it made its plugin. One venv holds both plugins.",
        "",
        "| offering's plugin | `validate` median | p95 | CPU time | peak RSS | service RSS |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for case in cases.values():
        lines.append(
            f"| {case['label']} | {case['median_s'] * 1000:.0f} ms | {case['p95_s'] * 1000:.0f} ms "
            f"| {case['median_cpu_s'] * 1000:.0f} ms | {case['median_maxrss_mib']:.1f} MiB "
            f"| {case['service_rss_mib']:.1f} MiB |"
        )
    native, upstream = cases["native"], cases["upstream"]
    lines += [
        "",
        "Cost of the upstream plugin: "
        f"+{(upstream['median_cpu_s'] - native['median_cpu_s']) * 1000:.0f} ms of CPU "
        f"(+{(upstream['median_s'] - native['median_s']) * 1000:.0f} ms wall) to validate, "
        f"+{upstream['service_rss_mib'] - native['service_rss_mib']:.0f} MiB "
        "for the running service (most of it `waldur_api_client`, imported by upstream's core).",
        "An offering naming this agent's plugin imports `waldur_api_client`: "
        f"{'yes' if result['native_imports_client'] else 'no'}.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="timed validate runs each (10)")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds before RSS (5)")
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON")
    parser.add_argument("--write-docs", action="store_true", help="rewrite its benchmarks section")
    args = parser.parse_args(argv)
    compile_bytecode()
    python = str(upstream_venv() / "bin" / "python")
    cases: dict[str, dict[str, Any]] = {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        MupSimulator(password="bench-Mup-pass") as mup,  # noqa: S106 - the stand-in's
        WaldurSimulator(tick_interval=0) as sim,
    ):
        uuid = sim.summary()["offerings"][0]["uuid"]
        for key, label, upstream in (
            ("native", "this agent's `mup`", False),
            ("upstream", "upstream's `waldur-site-agent-mup` 1.0.7", True),
        ):
            entry = offering(sim.api_url, sim.provider_token, uuid, mup, upstream)
            config = config_file(Path(tmp), key, entry)
            argv = [
                python,
                "-m",
                "waldur_site_agent_actors.agent.cli",
                "validate",
                "-c",
                str(config),
            ]
            times, cpu, rss = [], [], []
            for i in range(args.runs + 1):
                elapsed, used, peak, code, stderr = run_once(argv)
                if code != 0:
                    raise SystemExit(f"validate {key}: exit {code}\n{stderr}")
                if i:
                    times.append(elapsed)
                    cpu.append(used)
                    rss.append(peak)
            print(f"measuring the service with {label} ...", file=sys.stderr)
            service = daemon_rss(python, config, args.settle)
            cases[key] = {"label": label, **summary(times, cpu, rss), "service_rss_mib": service}
            if key == "native":
                probe = subprocess.run(
                    [python, "-c", PROBE, str(config)], capture_output=True, text=True, check=True
                )
                native_imports_client = probe.stdout.strip().splitlines()[-1] == "True"
    result = {
        "benchmark": "upstream_plugin_start",
        "date": now(),
        "machine": machine(),
        "runs": args.runs,
        "settle": args.settle,
        "cases": cases,
        "native_imports_client": native_imports_client,
    }
    table = render(result)
    print(table)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    if args.write_docs:
        write_docs("upstream_plugin_start", "Start-up cost of an upstream plugin", COMMAND, table)
    return 1 if native_imports_client else 0


if __name__ == "__main__":
    sys.exit(main())
