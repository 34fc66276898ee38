"""The service as a whole: fault isolation between offerings, status, signals, secrets."""

import contextlib
import copy
import socket

from tests.e2e.harness import Agent, offering_config, terminal, wait_for
from waldur_site_agent_actors.simulators.waldur import WaldurSimulator
from waldur_site_agent_actors.simulators.waldur.client import ConsumerClient
from waldur_site_agent_actors.simulators.waldur.seed import default_scenario


def two_offerings():
    scenario = default_scenario()
    second = copy.deepcopy(scenario["offerings"][0])
    second["name"] = "Second cluster"
    second["plans"][0]["name"] = "Second default"
    scenario["offerings"].append(second)
    return scenario


def test_a_failing_backend_is_isolated_and_marked_failed(tmp_path):
    with WaldurSimulator(seed=two_offerings(), tick_interval=0) as sim:
        summary = sim.summary()
        broken, good = summary["offerings"]
        projects = summary["projects"]
        state = tmp_path / "state"
        agent = Agent(
            tmp_path,
            [
                offering_config(sim, broken, state, name="broken", fail_on=["ping"]),
                offering_config(sim, good, state, name="good"),
            ],
            supervision={
                "max_restarts": 2,
                "within_seconds": 60,
                "backoff_initial_seconds": 0.2,
                "backoff_max_seconds": 0.5,
            },
        ).start()
        consumer = ConsumerClient(sim.api_url, sim.staff_token)
        try:
            orders = [
                consumer.order(good["url"], projects[i % 2]["url"], {"cpu": 1, "mem": 1})
                for i in range(5)
            ]
            stuck = consumer.order(broken["url"], projects[0]["url"], {"cpu": 1, "mem": 1})
            for order in orders:
                done = wait_for(
                    lambda o=order: terminal(consumer, o["uuid"]), what="good orders", log=agent.log
                )
                assert done["state"] == "done"
            status = wait_for(
                lambda: "FAILED" in (s := agent.status()).stdout and s,
                what="broken offering FAILED",
                log=agent.log,
            )
            assert status.returncode == 1  # unhealthy while an offering is FAILED
            lines = status.stdout.splitlines()
            assert any(line.strip().startswith("broken") and "FAILED" in line for line in lines)
            assert any(line.strip().startswith("good") and "RUNNING" in line for line in lines)
            assert "told to fail on ping" in status.stdout
            assert consumer.order_details(stuck["uuid"])["state"] == "pending-provider"
            assert "FAILED: 2 restarts" in agent.log()
        finally:
            consumer.close()
            assert agent.stop() == 0


def test_sigterm_status_and_no_secret_in_the_log(tmp_path, sim, consumer, world):
    offering, projects = world
    agent = Agent(
        tmp_path, [offering_config(sim, offering, tmp_path / "state")], log_level="DEBUG"
    ).start()
    try:
        order = consumer.order(offering["url"], projects[0]["url"], {"cpu": 1, "mem": 1})
        assert wait_for(lambda: terminal(consumer, order["uuid"]), log=agent.log)["state"] == "done"
        status = wait_for(
            lambda: (s := agent.status()).returncode == 0 and s, what="status", log=agent.log
        )
        assert "hpc" in status.stdout and "RUNNING" in status.stdout
        assert "order_process: last cycle" in status.stdout
    finally:
        assert agent.stop() == 0
    after = agent.status()
    assert after.returncode == 1 and "not running" in after.stdout
    log = agent.log()
    assert "order_process" in log and "stopped" in log
    for token in (sim.provider_token, sim.staff_token):
        assert token not in log


def test_sd_notify_ready_watchdog_and_stopping(tmp_path, sim, world):
    offering, _ = world
    address = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(address)
        listener.settimeout(20)
        agent = Agent(tmp_path, [offering_config(sim, offering, tmp_path / "state")])
        # WATCHDOG_USEC=1 s: systemd expects a ping at least every second, we send one every 0.5 s.
        agent.start(env={"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "1000000"})
        try:
            assert listener.recv(256) == b"READY=1"
            pings = [listener.recv(256) for _ in range(3)]
            assert pings == [b"WATCHDOG=1"] * 3
        finally:
            assert agent.stop() == 0
        messages = []
        listener.settimeout(1)
        with contextlib.suppress(TimeoutError):
            while True:
                messages.append(listener.recv(256))
        assert b"STOPPING=1" in messages


def test_sigterm_gives_up_a_retry_instead_of_waiting_out_its_backoff(tmp_path, sim, world):
    offering, _ = world
    agent = Agent(tmp_path, [offering_config(sim, offering, tmp_path / "state")]).start()
    try:
        wait_for(lambda: "running (generation 1)" in agent.log(), what="start", log=agent.log)
        # Waldur asks every call to come back in two minutes: a retry would sleep that long.
        sim.faults.add(endpoint="*", error_rate=1.0, status=503, retry_after=120)
        wait_for(lambda: "retrying" in agent.log(), what="a call waiting to retry", log=agent.log)
    finally:
        assert agent.stop(timeout=60) == 0
    assert "not retried, the agent is stopping" in agent.log()
