"""Fault injection, counters, persistence across restarts, seed files and the command."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import requests

from tests.simulator.conftest import Api
from waldur_site_agent_actors.simulators.waldur import WaldurSimulator

ME = "GET /api/users/me/"
DONE = "POST /api/marketplace-orders/{uuid}/set_state_done/"


def test_counters_count_by_endpoint_template(sim, staff, info):
    staff.get("users/me/")
    staff.get("users/me/")
    order = staff.post(
        "marketplace-orders/",
        {"offering": info["offerings"][0]["url"], "project": info["projects"][0]["url"]},
    ).json()
    staff.post(f"marketplace-orders/{order['uuid']}/set_state_done/")
    counts = sim.counts()
    assert counts[ME] == 2
    assert counts[DONE] == 1
    assert counts["POST /api/marketplace-orders/"] == 1
    log = sim.requests()
    assert log[-1]["endpoint"] == DONE and log[-1]["status"] == 409
    over_http = staff.get(sim.base_url + "/_sim/counters/").json()
    assert over_http["counts"][ME] == 2
    assert requests.get(sim.base_url + "/_sim/counters/", timeout=5).status_code == 401
    sim.reset_counters()
    assert sim.counts() == {}


def test_error_rate_is_deterministic_and_has_retry_after(sim, staff):
    def pattern():
        sim.clear_faults()
        sim.faults.reseed(7)
        sim.add_fault(endpoint=ME, error_rate=0.5, status=429, retry_after=3)
        answers = [staff.get("users/me/") for _ in range(20)]
        return [a.status_code for a in answers], answers

    first, answers = pattern()
    second, _ = pattern()
    assert first == second
    assert set(first) == {200, 429}
    limited = next(a for a in answers if a.status_code == 429)
    assert limited.headers["Retry-After"] == "3"
    assert staff.get("version/").status_code == 200  # other endpoints untouched


def test_times_latency_reset_and_hang(sim, staff):
    sim.add_fault(endpoint=ME, error_rate=1.0, status=503, times=2)
    assert [staff.get("users/me/").status_code for _ in range(3)] == [503, 503, 200]
    sim.clear_faults()
    sim.add_fault(endpoint="/api/version/", latency=0.3)
    started = time.monotonic()
    staff.get("version/")
    assert time.monotonic() - started >= 0.3
    sim.clear_faults()
    sim.add_fault(endpoint=ME, reset_rate=1.0, times=1)
    with pytest.raises(requests.ConnectionError):
        staff.get("users/me/")
    assert staff.get("users/me/").status_code == 200
    sim.add_fault(endpoint=ME, hang=5, times=1)
    with pytest.raises(requests.exceptions.ReadTimeout):
        staff.session.get(staff.url("users/me/"), timeout=0.5)


def test_faults_over_the_admin_api(sim, staff):
    answer = staff.post(
        sim.base_url + "/_sim/faults/", {"endpoint": ME, "error_rate": 1.0, "status": 502}
    )
    assert answer.status_code == 201
    assert staff.get("users/me/").status_code == 502
    assert staff.get(sim.base_url + "/_sim/faults/").json()[0]["status"] == 502
    assert staff.send("DELETE", sim.base_url + "/_sim/faults/").status_code == 204
    assert staff.get("users/me/").status_code == 200
    bad = staff.post(sim.base_url + "/_sim/faults/", {"bogus": 1})
    assert bad.status_code == 400


class RecordingBroker:
    def __init__(self):
        self.calls = []

    def ensure_subscription(self, vhost, username, password):
        self.calls.append(("subscription", vhost, username, password))

    def ensure_queue(self, vhost, queue_name):
        self.calls.append(("queue", vhost, queue_name))

    def publish(self, vhost, queue_name, payload):
        self.calls.append(("publish", vhost, queue_name, payload))

    def delete_user(self, username):
        self.calls.append(("delete", username))


def test_broker_calls_and_outage():
    broker = RecordingBroker()
    with WaldurSimulator(broker=broker) as sim:
        info, api = sim.summary(), Api(sim, sim.provider_token)
        offering = info["offerings"][0]["uuid"]
        identity = api.post(
            "marketplace-site-agent-identities/", {"offering": offering, "name": "a"}
        ).json()
        sub = api.post(
            f"marketplace-site-agent-identities/{identity['uuid']}/register_event_subscription/",
            {"observable_object_type": "order"},
        ).json()
        assert broker.calls[-1] == (
            "subscription",
            sub["user_uuid"],
            sub["uuid"],
            sim.provider_token,
        )
        queue = api.post(
            f"event-subscriptions/{sub['uuid']}/create_queue/",
            {"offering_uuid": offering, "object_type": "order"},
        ).json()
        assert broker.calls[-1] == ("queue", sub["user_uuid"], queue["queue_name"])
        staff = Api(sim, sim.staff_token)
        body = {"offering": info["offerings"][0]["url"], "project": info["projects"][0]["url"]}
        order = staff.post("marketplace-orders/", body).json()
        published = broker.calls[-1]
        assert published[:3] == ("publish", sub["user_uuid"], queue["queue_name"])
        assert published[3] == {"order_uuid": order["uuid"], "order_state": "pending-provider"}
        sim.broker_down = True
        api.post(f"marketplace-orders/{order['uuid']}/approve_by_provider/")
        assert sim.outbox[-1]["published"] is False and "outage" in sim.outbox[-1]["error"]
        again = api.post(
            f"event-subscriptions/{sub['uuid']}/create_queue/",
            {"offering_uuid": offering, "object_type": "order"},
        )
        assert again.status_code == 503
        sim.broker_down = False
        assert api.send("DELETE", f"event-subscriptions/{sub['uuid']}/").status_code == 204
        assert broker.calls[-1] == ("delete", sub["uuid"])


def test_state_survives_a_restart(tmp_path):
    path = tmp_path / "waldur.sqlite"
    with WaldurSimulator(state_file=path) as sim:
        info = sim.summary()
        staff = Api(sim, sim.staff_token)
        body = {"offering": info["offerings"][0]["url"], "project": info["projects"][0]["url"]}
        order = staff.post("marketplace-orders/", body).json()
        staff.post(f"marketplace-orders/{order['uuid']}/approve_by_provider/")
    with WaldurSimulator(state_file=path) as again:
        assert again.summary()["staff_token"] == info["staff_token"]
        staff = Api(again, again.staff_token)
        restored = staff.get(f"marketplace-orders/{order['uuid']}/").json()
        assert restored["state"] == "executing"
        second = staff.post("marketplace-orders/", body).json()
        assert second["uuid"] != order["uuid"]  # the UUID counter was kept too
        assert len(staff.get("marketplace-orders/").json()) == 2


def test_seeds_are_deterministic_and_files_load(tmp_path):
    with WaldurSimulator() as a, WaldurSimulator() as b:
        assert a.summary()["offerings"][0]["uuid"] == b.summary()["offerings"][0]["uuid"]
    spec = {
        "seed": "custom",
        "users": [{"username": "root", "is_staff": True}, {"username": "owner"}],
        "customers": [{"name": "Provider", "owners": ["owner"]}, {"name": "Lab"}],
        "offerings": [
            {
                "name": "Storage",
                "customer": "Provider",
                "plugin_options": {
                    "username_generation_policy": "waldur_username",
                    "service_provider_can_create_offering_user": True,
                },
                "components": [{"type": "storage", "name": "Storage", "billing_type": "limit"}],
                "plans": [{"name": "Basic", "quotas": {"storage": 10}}],
            }
        ],
        "projects": [
            {
                "name": "P1",
                "customer": "Lab",
                "members": [{"user": "root", "role": "PROJECT.ADMIN"}],
            }
        ],
        "resources": [{"name": "vol1", "offering": "Storage", "project": "P1", "backend_id": "v1"}],
    }
    seed_file = tmp_path / "seed.json"
    seed_file.write_text(json.dumps(spec))
    with WaldurSimulator(seed=seed_file) as sim:
        info = sim.summary()
        assert [o["name"] for o in info["offerings"]] == ["Storage"]
        api = Api(sim, sim.provider_token)
        resources = api.get("marketplace-provider-resources/").json()
        assert [(r["name"], r["state"], r["backend_id"]) for r in resources] == [
            ("vol1", "OK", "v1")
        ]
        users = api.get("marketplace-offering-users/").json()
        assert [(u["username"], u["state"]) for u in users] == [("root", "OK")]


def test_the_simulator_command(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "waldur_site_agent_actors.agent.cli",
            "simulator",
            "--port",
            "0",
            "--state",
            str(tmp_path / "s.db"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = process.stdout.readline()
        info = json.loads(line)
        assert set(info) >= {"api_url", "staff_token", "provider_token", "offerings", "projects"}
        assert {"uuid", "name", "url"} <= set(info["offerings"][0])
        assert len(info["projects"]) == 2
        me = requests.get(
            info["api_url"] + "users/me/",
            headers={"Authorization": f"Token {info['provider_token']}"},
            timeout=5,
        )
        assert me.json()["username"] == "provider"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


@pytest.mark.parametrize("suffix", [".toml", ".yaml", ".json"])
def test_the_default_scenario_as_a_file(tmp_path, suffix):
    import tomli_w
    import yaml

    from waldur_site_agent_actors.simulators.waldur.seed import default_scenario

    spec = default_scenario()
    path = tmp_path / f"default{suffix}"
    if suffix == ".toml":
        path.write_text(tomli_w.dumps(spec))
    elif suffix == ".yaml":
        path.write_text(yaml.safe_dump(spec))
    else:
        path.write_text(json.dumps(spec))
    with WaldurSimulator(seed=path) as from_file, WaldurSimulator() as built_in:
        a, b = from_file.summary(), built_in.summary()
        assert [o["uuid"] for o in a["offerings"]] == [o["uuid"] for o in b["offerings"]]
        assert a["staff_token"] == b["staff_token"]
        assert [p["uuid"] for p in a["projects"]] == [p["uuid"] for p in b["projects"]]
