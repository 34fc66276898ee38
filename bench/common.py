"""What every benchmark script shares: the machine's description, percentiles, the upstream venv,
and rewriting its own marked section of docs/benchmarks.md."""

from __future__ import annotations

import math
import os
import platform
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"


def compile_bytecode() -> None:
    """Our code's bytecode written, as the .deb and .rpm ship it compiled and pip compiles the
    upstream agent it installs: the agents measured then load bytecode rather than compile
    their sources at each start. Nothing else writes it where PYTHONDONTWRITEBYTECODE is set,
    as in some shells and CI images; compileall writes regardless, and skips what is current."""
    folders = [str(ROOT / name) for name in ("actors", "agent", "backends", "config", "simulators")]
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0", *folders], check=True)


def percentile(values: list[float], pct: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * pct / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def machine() -> dict[str, object]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    return {
        "cpu": model or platform.processor() or "unknown",
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def describe_machine(m: dict[str, object]) -> str:
    return (
        f"{m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable), {m['os']}, "
        f"Python {m['python']}"
    )


def upstream_venv(explicit: str | None = None) -> tuple[Path, str]:
    """The upstream venv and the installed upstream version (installing it when missing)."""
    if explicit:
        venv = Path(explicit)
        out = subprocess.run(
            [
                str(venv / "bin" / "python"),
                "-c",
                "from importlib.metadata import version; print(version('waldur-site-agent'))",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return venv, out.strip()
    out = subprocess.run(
        ["sh", str(ROOT / "bench" / "upstream_venv.sh")],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    ).stdout
    path, version = out.strip().splitlines()[-1].rsplit(" ", 1)
    return Path(path), version


def write_docs(name: str, title: str, command: str, table: str) -> None:
    """Replace the text between `<!-- bench:NAME -->` markers (appending a `## TITLE` section
    holding them if missing); the rest of docs/benchmarks.md is left alone."""
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    section = f"{begin}\n\nRegenerate with `{command}`.\n\n{table}\n{end}"
    text = DOCS.read_text() if DOCS.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text, count=1)
    else:
        text = text.rstrip("\n") + f"\n\n## {title}\n\n" + section + "\n"
    DOCS.write_text(text)
    print(f"wrote {DOCS.relative_to(ROOT)}", file=sys.stderr)


def rabbitmq_up() -> tuple[Any, dict[str, Any]]:
    """The test RabbitMQ node (started if needed: `tests/services/rabbitmq up`), as a `Broker`
    for the simulator and the Web-STOMP address for the agents."""
    from tests.services.rabbitmq_fixture import parse_env
    from waldur_site_agent_actors.simulators.waldur.broker import Broker

    out = subprocess.run(
        [str(ROOT / "tests" / "services" / "rabbitmq"), "up"],
        check=True,
        capture_output=True,
        text=True,
        timeout=900,
    ).stdout
    env = parse_env(out)
    ws = {
        "host": env["WALDUR_TEST_RABBITMQ_HOST"],
        "port": int(env["WALDUR_TEST_RABBITMQ_WS_PORT"]),
        "path": env["WALDUR_TEST_RABBITMQ_WS_PATH"],
    }
    return Broker.from_env(env), ws
