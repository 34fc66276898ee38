"""The service as a whole: fault isolation between offerings, status, signals, secrets."""

import contextlib
import copy
import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

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


def levels_in(log: str) -> set[str]:
    """The levels of the agent's own lines (`<date> <time> LEVEL logger [offering]: ...`)."""
    return set(re.findall(r"^\S+ \S+ (DEBUG|INFO|WARNING|ERROR|CRITICAL) ", log, re.MULTILINE))


def test_log_level_decides_which_lines_the_agent_writes(tmp_path, sim, consumer, world):
    offering, projects = world
    for level, wanted in (("info", {"INFO", "ERROR"}), ("error", {"ERROR"})):
        (tmp_path / level).mkdir()
        config = offering_config(sim, offering, tmp_path / level, fail_on=["create"])
        agent = Agent(tmp_path / level, [config], log_level=level).start()
        try:
            uuid = consumer.order(offering["url"], projects[0]["url"], {"cpu": 1, "mem": 1})["uuid"]
            erred = wait_for(lambda u=uuid: terminal(consumer, u), log=agent.log)
            assert erred["state"] == "erred", erred
        finally:
            assert agent.stop() == 0
        assert levels_in(agent.log()) - {"WARNING"} == wanted, agent.log()
        if level == "error":
            assert "WARNING" not in levels_in(agent.log()), agent.log()


def test_sd_notify_status_ready_watchdog_and_stopping(tmp_path, sim, world):
    offering, _ = world
    address = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(address)
        listener.settimeout(20)
        agent = Agent(tmp_path, [offering_config(sim, offering, tmp_path / "state")])
        # WATCHDOG_USEC=1 s: systemd expects a ping at least every second, we send one every 0.5 s.
        agent.start(env={"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "1000000"})
        try:
            # The one-line summary `systemctl status` shows, sent before READY like the status
            # file, then again whenever it changes.
            first = listener.recv(256)
            assert first.startswith(b"STATUS=1 offering(s): 1 "), first
            assert listener.recv(256) == b"READY=1"
            pings = []
            while len(pings) < 3:
                message = listener.recv(256)
                if not message.startswith(b"STATUS="):
                    pings.append(message)
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
    assert "not retried, the offering is stopping" in agent.log()


def cli(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "waldur_site_agent_actors.agent.cli", *argv],
        capture_output=True,
        text=True,
        timeout=150,
        cwd=Path(__file__).parents[2],
        env={**os.environ, **(env or {})},
    )


def test_reload_waits_for_the_agents_verdict_and_status_ignores_the_file_on_disk(
    tmp_path, sim, world
):
    offering, _ = world
    runtime = {"RUNTIME_DIRECTORY": str(tmp_path / "run")}  # what systemd's RuntimeDirectory= sets
    agent = Agent(tmp_path, [offering_config(sim, offering, tmp_path / "state")])
    agent.start(env=runtime)
    good = agent.config.read_text()
    try:
        wait_for(lambda: (tmp_path / "run" / "status.json").exists(), what="status", log=agent.log)
        accepted = cli("reload", "-c", str(agent.config), env=runtime)
        assert accepted.returncode == 0, accepted
        assert accepted.stdout.strip() == "reload done: accepted; restarted: none"

        bad = re.sub(
            r"(?m)^order_process_period_minutes = .*$",
            'order_process_period_minutes = "soon"',
            good,
        )
        assert bad != good
        agent.config.write_text(bad)
        # Refused before the agent is disturbed: the errors, and a non-zero exit for systemctl.
        refused = cli("reload", "-c", str(agent.config), env=runtime)
        assert refused.returncode == 2, refused
        assert (
            "order_process_period_minutes" in refused.stderr
            and "keeps its config" in refused.stderr
        )
        # The agent refuses it too when signalled directly, and says so in its status.
        agent.process.send_signal(signal.SIGHUP)
        verdict = wait_for(
            lambda: (
                (r := json.loads((tmp_path / "run" / "status.json").read_text())["reload"])
                and r["serial"] == 2
                and r
            ),
            what="the agent's verdict",
            log=agent.log,
        )
        assert not verdict["ok"] and "order_process_period_minutes" in verdict["message"], verdict

        # `status` reads the running agent's file although the config no longer loads.
        status = cli("status", "-c", str(agent.config), env=runtime)
        assert status.returncode == 0, status
        assert "RUNNING" in status.stdout
        assert re.search(
            r"last reload .*: refused, the running config stays: .*order_process_period",
            status.stdout,
        )
    finally:
        assert agent.stop() == 0
    assert "reload refused, the running config stays" in agent.log()


def test_journal_lines_startup_modes_and_thread_dump(tmp_path, sim, world):
    offering, _ = world
    agent = Agent(tmp_path, [offering_config(sim, offering, tmp_path / "state")])
    agent.log_path.touch()
    info = agent.log_path.stat()
    # journald hands a service its stream with JOURNAL_STREAM naming it: here, the log file.
    agent.start(env={"JOURNAL_STREAM": f"{info.st_dev}:{info.st_ino}"})
    try:
        wait_for(lambda: "running (generation 1)" in agent.log(), what="start", log=agent.log)
        agent.process.send_signal(signal.SIGUSR1)
        wait_for(lambda: "Current state of MainThread" in agent.log(), what="stacks", log=agent.log)
    finally:
        assert agent.stop() == 0
    lines = agent.log().splitlines()
    # No STOMP in this config: event_process is not said to run.
    started = next(line for line in lines if "started: 1 offering(s)" in line)
    assert started.startswith("<6>INFO agent.service [-]: agent ")
    assert started.endswith("modes order_process, report, membership_sync")
    # Every line carries its priority and no timestamp of its own (the journal adds one).
    assert all(re.match(r"<[2-7]>[A-Z]+ \S+ \[", line) for line in lines), lines
    dumps = [line for line in lines if "Current state of" in line]
    assert all(line.startswith("<2>CRITICAL pykka") for line in dumps)
    assert any("OfferingActor" in line for line in dumps)
