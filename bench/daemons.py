"""The two agents as daemons against one Waldur simulator, with the plugin a benchmark names.

- `demo` (ours only): this agent's SQLite `demo` backend, its fastest native path.
- `guide` (both): the Plugin Development Guide's plugin (tests/upstream_plugins/guide_plugin,
  accounts in a JSON file); ours runs it behind the upstream adapter in the venv the
  upstream-plugin tests build, upstream registered in its own venv.
- `mock` (upstream only): upstream's own `MockBackend`, accounts in memory, its fastest path.

Upstream runs one process per mode, as it does on a site; ours runs every mode in one process.
Both get their periods from the same numbers (ours in its config, upstream from its
`WALDUR_SITE_AGENT_*_PERIOD_MINUTES` variables).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import tomli_w
import yaml

from bench.common import ROOT
from waldur_site_agent_actors.agent.demo import COMPONENTS
from waldur_site_agent_actors.simulators.waldur import WaldurSimulator

GUIDE = ROOT / "tests" / "upstream_plugins" / "guide_plugin"
GUIDE_ENTRY_POINTS = """[waldur_site_agent.backends]
mycustom = waldur_site_agent_mycustom.backend:MyCustomBackend
mock = waldur_site_agent.testing.mock_backend:MockBackend

[waldur_site_agent.component_schemas]
mycustom = waldur_site_agent_mycustom.schemas:MyCustomComponentSchema

[waldur_site_agent.backend_settings_schemas]
mycustom = waldur_site_agent_mycustom.schemas:MyCustomBackendSettingsSchema
"""
PLUGINS = {"ours": ("demo", "guide"), "upstream": ("guide", "mock")}


# The guide's example reads a resource's attributes with `.get`, which upstream's generated
# model lacks (every order would err); this agent's adapter answers it. Upstream's processes of
# the guide part get it here, so both agents run the very same plugin.
ATTRIBUTES_GET = """from waldur_api_client.models.resource_attributes import ResourceAttributes


def get(self, key, default=None):
    return self.additional_properties.get(key, default)


ResourceAttributes.get = get
"""


def upstream_plugin_path(scratch: Path, plugin: str) -> str:
    """A PYTHONPATH under which upstream's venv finds the guide's plugin and `mock` (upstream's
    MockBackend) as registered backends: a generated dist-info holding the entry points; for
    the guide, a `sitecustomize` giving upstream's resource attributes `.get`."""
    dist = scratch / "plugins" / "bench_plugins-0.0.0.dist-info"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: bench-plugins\nVersion: 0.0.0\n")
    (dist / "entry_points.txt").write_text(GUIDE_ENTRY_POINTS)
    if plugin == "guide":
        (scratch / "plugins" / "sitecustomize.py").write_text(ATTRIBUTES_GET)
    return f"{scratch / 'plugins'}{os.pathsep}{GUIDE}"


def guide_python() -> Path:
    """The python of the venv holding this checkout, upstream's core and the guide's plugin."""
    from tests.upstream_plugins.venv import upstream_venv

    return upstream_venv() / "bin" / "python"


class Daemon:
    """One agent's processes against one simulator, their log in `scratch`."""

    def __init__(
        self, who: str, plugin: str, sim: WaldurSimulator, scratch: Path, venv: Path
    ) -> None:
        if plugin not in PLUGINS[who]:
            raise ValueError(f"{who} does not run the {plugin!r} plugin")
        self.who, self.plugin, self.sim, self.scratch, self.venv = who, plugin, sim, scratch, venv
        self.processes: list[subprocess.Popen[bytes]] = []
        self.log = scratch / f"{who}.log"
        self.started = 0.0

    def backend(self, index: int) -> dict[str, Any]:
        """The offering's plugin settings; upstream needs each role's plugin named, or it
        leaves that role's processing out without a word."""
        settings = self.plugin_settings(index)
        kind = settings["backend_type"]
        roles = ("order_processing_backend", "membership_sync_backend", "reporting_backend")
        return {**settings, **dict.fromkeys(roles, kind)}

    def plugin_settings(self, index: int) -> dict[str, Any]:
        if self.plugin == "demo":
            return {
                "backend_type": "demo",
                "backend_settings": {"path": str(self.scratch / f"demo-{index}.sqlite")},
                "backend_components": COMPONENTS,
            }
        if self.plugin == "guide":
            state = self.scratch / f"guide-{index}.json"
            return {
                "backend_type": "mycustom",
                "backend_settings": {"state_file": str(state), "allocation_prefix": "guide_"},
                "backend_components": COMPONENTS,
            }
        return {
            "backend_type": "mock",
            "backend_settings": {},
            "backend_components": {
                name: {**spec, "unit_factor": 1, "limit": 10} for name, spec in COMPONENTS.items()
            },
        }

    def offerings(self, stomp: dict[str, Any] | None, count: int | None) -> list[dict[str, Any]]:
        summary = self.sim.summary()
        return [
            {
                "name": f"bench-{i}",
                "waldur_api_url": self.sim.api_url,
                "waldur_api_token": self.sim.provider_token,
                "waldur_offering_uuid": offering["uuid"],
                **(stomp or {}),
                **self.backend(i),
            }
            for i, offering in enumerate(summary["offerings"][:count])
        ]

    def start(
        self,
        modes: list[str],
        stomp: dict[str, Any] | None = None,
        periods: dict[str, float] | None = None,
        offerings: int | None = None,
    ) -> None:
        """`periods`: minutes by mode (`order_process`, `report`, `membership_sync`)."""
        periods = {"order_process": 60, "report": 60, "membership_sync": 60, **(periods or {})}
        out = self.log.open("ab")
        self.started = time.perf_counter()
        if self.who == "ours":
            config = self.scratch / "ours.toml"
            document = {
                "state_dir": str(self.scratch / "state"),
                "log_level": "WARNING",
                "order_process_period_minutes": periods["order_process"],
                "membership_sync_period_minutes": periods["membership_sync"],
                "report_period_minutes": periods["report"],
                "reconciliation_period_minutes": 60,
                "offerings": self.offerings(stomp, offerings),
            }
            config.write_text(tomli_w.dumps(document))
            python = guide_python() if self.plugin == "guide" else ROOT / ".venv" / "bin" / "python"
            argv = [
                str(python),
                "-m",
                "waldur_site_agent_actors.agent.cli",
                "run",
                "-c",
                str(config),
            ]
            for mode in modes:
                argv += ["-m", mode]
            self.processes.append(subprocess.Popen(argv, stdout=out, stderr=out, cwd=ROOT))
            return
        config = self.scratch / "upstream.yaml"
        document = {"log_level": "WARNING", "offerings": self.offerings(stomp, offerings)}
        config.write_text(yaml.safe_dump(document))
        env = {
            **os.environ,
            "PYTHONPATH": upstream_plugin_path(self.scratch, self.plugin),
            "WALDUR_SITE_AGENT_ORDER_PROCESS_PERIOD_MINUTES": str(periods["order_process"]),
            "WALDUR_SITE_AGENT_REPORT_PERIOD_MINUTES": str(int(periods["report"])),
            "WALDUR_SITE_AGENT_MEMBERSHIP_SYNC_PERIOD_MINUTES": str(
                int(periods["membership_sync"])
            ),
        }
        for mode in modes:  # upstream runs one process per mode
            argv = [str(self.venv / "bin" / "waldur_site_agent"), "-m", mode, "-c", str(config)]
            self.processes.append(
                subprocess.Popen(argv, stdout=out, stderr=out, env=env, cwd=self.scratch)
            )

    def proc_status(self, field: str) -> int:
        """A field of /proc/PID/status (`VmRSS` in kB, `Threads`) summed over the processes."""
        total = 0
        for process in self.processes:
            try:
                status = Path(f"/proc/{process.pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith(f"{field}:"):
                    total += int(line.split()[1])
        return total

    def rss_mib(self) -> float:
        return self.proc_status("VmRSS") / 1024

    def threads(self) -> int:
        return self.proc_status("Threads")

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.processes)

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def daemon(who: str, plugin: str, sim: WaldurSimulator, venv: Path) -> Iterator[Daemon]:
    with tempfile.TemporaryDirectory(prefix=f"bench-{who}-") as scratch:
        running = Daemon(who, plugin, sim, Path(scratch), venv)
        try:
            yield running
        finally:
            running.stop()


def wait(
    running: Any, predicate: Callable[[], Any], timeout: float, what: str, every: float = 0.02
) -> None:
    """Poll `predicate` every `every` seconds (cheap predicates only: the simulator shares this
    process) while `running` (a daemon with `who`, `alive()` and `tail()`) lives."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if not running.alive():
            break
        time.sleep(every)
    raise SystemExit(f"{running.who}: gave up waiting for {what}\n{running.tail()}")


def listening(sim: WaldurSimulator, broker: Any) -> bool:
    queues = sim.objects("agent_queues")
    return bool(queues) and all(
        (broker.queue_info(q["vhost"], q["queue_name"]) or {}).get("consumers") for q in queues
    )


def order_times(sim: WaldurSimulator) -> dict[str, tuple[str, float, float | None]]:
    """{order uuid: (state, created, completed)}, times in seconds of the simulator's clock."""
    with sim.state.lock:
        return {
            o["uuid"]: (o["state"], stamp(o["created"]), stamp(o.get("completed_at")))
            for o in sim.state.all("orders")
        }


def all_done(sim: WaldurSimulator, count: int | None = None) -> bool:
    """Whether `count` orders (by default: every order) are done. An erred order ends the run
    with its message: a plugin that fails every order would otherwise be waited for until the
    timeout."""
    with sim.state.lock:
        orders = sim.state.all("orders")
        erred = next((o for o in orders if o["state"] == "erred"), None)
        done = sum(1 for o in orders if o["state"] == "done")
    if erred is not None:
        raise SystemExit(f"order {erred['uuid']} erred: {erred.get('error_message')}")
    return done >= (len(orders) if count is None else count)


def stamp(text: str | None) -> float | None:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() if text else None


def many_offerings(spec: dict[str, Any], offerings: int) -> dict[str, Any]:
    """`spec` with its first offering copied until there are `offerings` of them."""
    import copy

    first = spec["offerings"][0]
    for i in range(len(spec["offerings"]), offerings):
        extra = copy.deepcopy(first)
        extra["name"] = f"{first['name']} {i + 1}"
        for plan in extra["plans"]:
            plan["name"] = f"{plan['name']} {i + 1}"
        spec["offerings"].append(extra)
    return spec
