"""The upstream agent from PyPI, unmodified, against the simulator: order_process, membership_sync
and report end with orders done, team members in the backend and usage in Waldur.

The upstream venv comes from `bench/upstream_venv.sh` (cached); its backend is upstream's own
MockBackend with its accounts kept in a file (`upstream_plugin/simmock.py`)."""

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from tests.ci import unavailable
from tests.simulator.conftest import Api
from tests.simulator.schema_check import Bodies
from tests.simulator.upstream_plugin import pythonpath

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.upstream


@pytest.fixture(scope="module")
def upstream_venv():
    try:
        out = subprocess.run(
            ["sh", str(ROOT / "bench" / "upstream_venv.sh")],
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        unavailable(f"upstream venv unavailable: {exc} {getattr(exc, 'stderr', '') or ''}")
    return Path(out.stdout.split()[0])


@pytest.fixture
def plugin_path(tmp_path):
    return pythonpath(tmp_path)


def config(sim, info, path):
    components = {
        "cpu": {"limit": 10, "measured_unit": "k-Hours", "unit_factor": 1,
                "accounting_type": "limit", "label": "CPU"},
        "mem": {"limit": 10, "measured_unit": "gb-Hours", "unit_factor": 1,
                "accounting_type": "limit", "label": "Memory"},
    }  # fmt: skip
    offering = {
        "name": "simulated SLURM",
        "waldur_api_url": sim.api_url,
        "waldur_api_token": sim.provider_token,
        "waldur_offering_uuid": info["offerings"][0]["uuid"],
        "backend_type": "simmock",
        "order_processing_backend": "simmock",
        "membership_sync_backend": "simmock",
        "reporting_backend": "simmock",
        "backend_settings": {},
        "backend_components": components,
    }
    path.write_text(yaml.safe_dump({"offerings": [offering], "reporting_periods": 1}))
    return path


def run_until(venv, mode, cfg, env, done, timeout=60.0):
    """Run one upstream mode until `done()` holds, then stop it; its log on failure."""
    log = cfg.parent / f"{mode}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(venv / "bin" / "waldur_site_agent"), "-m", mode, "-c", str(cfg)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if done():
                    return
                if process.poll() is not None:
                    break
                time.sleep(0.5)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
    sys.stderr.write(log.read_text()[-6000:])
    pytest.fail(f"upstream {mode} did not finish its work in {timeout} s")


def name_offering_users(provider: Api) -> None:
    """Usernames as a username backend would set them (upstream's `base` backend sets none)."""
    for ou in provider.get("marketplace-offering-users/", page_size=100).json():
        if ou["state"] == "Requested":
            provider.post(f"marketplace-offering-users/{ou['uuid']}/begin_creating/")
        provider.send(
            "PATCH", f"marketplace-offering-users/{ou['uuid']}/", {"username": ou["user_username"]}
        )


def test_upstream_agent_runs_unmodified(sim, info, upstream_venv, plugin_path, tmp_path):
    staff, provider = Api(sim, sim.staff_token), Api(sim, sim.provider_token)
    for i, project in enumerate(info["projects"]):
        answer = staff.post(
            "marketplace-orders/",
            {
                "offering": info["offerings"][0]["url"],
                "project": project["url"],
                "plan": info["offerings"][0]["plans"][0]["url"],
                "limits": {"cpu": 10 + i, "mem": 20},
                "attributes": {"name": f"upstream{i}"},
            },
        )
        assert answer.status_code == 201, answer.text
    cfg = config(sim, info, tmp_path / "config.yaml")
    state = tmp_path / "backend.json"
    env = {**os.environ, "PYTHONPATH": plugin_path, "SIMMOCK_STATE": str(state)}

    def orders_done():
        return {o["state"] for o in sim.objects("orders")} == {"done"}

    run_until(upstream_venv, "order_process", cfg, env, orders_done)
    resources = sim.objects("resources")
    assert {r["state"] for r in resources} == {"OK"}
    assert all(r["backend_id"] for r in resources)

    name_offering_users(provider)

    def members_added():
        if not state.exists():
            return False
        accounts = json.loads(state.read_text())
        return sorted(u for a in accounts.values() for u in a["users"]) == [
            "alice", "bob", "carol", "dave"]  # fmt: skip

    run_until(upstream_venv, "membership_sync", cfg, env, members_added)

    period = datetime.now(UTC).strftime("%Y-%m-01")

    def usage_reported():
        usages = sim.objects("component_usages", billing_period=period)
        return len(usages) == 4 and len(sim.objects("user_usages")) == 8

    run_until(upstream_venv, "report", cfg, env, usage_reported)
    assert {u["usage"] for u in sim.objects("component_usages")} == {"12.50", "3.25"}
    assert {u["usage"] for u in sim.objects("user_usages")} == {"1.00", "0.50"}
    failed = sorted({(r["endpoint"], r["status"]) for r in sim.requests() if r["status"] >= 400})
    assert failed == [], failed
    counts = sim.counts()
    assert counts["POST /api/marketplace-orders/{uuid}/approve_by_provider/"] == 2
    assert counts["POST /api/marketplace-orders/{uuid}/set_state_done/"] == 2


@pytest.mark.rabbitmq
def test_upstream_event_process_over_real_rabbitmq(
    rabbitmq, info, upstream_venv, plugin_path, tmp_path
):
    """Upstream's event mode registers its unified queue, connects over Web-STOMP, and handles
    an order it only hears about through the broker."""
    from waldur_site_agent_actors.simulators.waldur import WaldurSimulator

    with WaldurSimulator(broker=rabbitmq.broker) as sim:
        bodies = Bodies(sim)
        info = sim.summary()
        cfg = config(sim, info, tmp_path / "config.yaml")
        document = yaml.safe_load(cfg.read_text())
        document["offerings"][0].update(rabbitmq.offering_stomp)
        cfg.write_text(yaml.safe_dump(document))
        env = {
            **os.environ,
            "PYTHONPATH": plugin_path,
            "SIMMOCK_STATE": str(tmp_path / "backend.json"),
        }
        staff = Api(sim, sim.staff_token)
        placed: list[str] = []

        def listening_then_done():
            queues = sim.objects("agent_queues")
            if not queues:
                return False
            info_ = rabbitmq.broker.queue_info(queues[0]["vhost"], queues[0]["queue_name"])
            if not placed:
                if not info_ or not info_.get("consumers"):
                    return False
                answer = staff.post(
                    "marketplace-orders/",
                    {
                        "offering": info["offerings"][0]["url"],
                        "project": info["projects"][0]["url"],
                        "limits": {"cpu": 5, "mem": 5},
                        "attributes": {"name": "evented"},
                    },
                )
                placed.append(answer.json()["uuid"])
                return False
            order = sim.objects("orders", uuid=placed[0])[0]
            return order["state"] == "done"

        try:
            run_until(upstream_venv, "event_process", cfg, env, listening_then_done, timeout=90)
        finally:
            rabbitmq.forget(sim)
        published = [m for m in sim.outbox if m["queue"].startswith("consumer_")]
        assert published and all(m["published"] for m in published)
        assert bodies.mismatches() == []
