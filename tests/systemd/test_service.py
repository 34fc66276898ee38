"""The .deb under a real systemd: a booted Debian 12 (`tests/services/systemd`), the shipped unit.

In file order, on one container and one Waldur simulator (on 127.0.0.1, which the container
shares): install, `init`, `enable --now` to READY, an order served, `kill -9` and `kill -STOP`
recovered by systemd, reloads of a good and of a bad file, a stop during a hung Waldur call, the
journal, an upgrade in place, SLURM and home directories under the hardened unit, remove and
purge. A test drop-in shortens only what would make the suite slow (WatchdogSec, RestartSec);
everything else is the packaged unit.
"""

from __future__ import annotations

import json
import pwd
import re
import subprocess
import time
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from tests.e2e.harness import offering_config, wait_for
from tests.metrics.scenario import Samples, free_port, scrape, series, value
from tests.packaging.build_fixture import Built
from tests.services.systemd_fixture import Container
from tests.slurm.conftest import COMPONENTS, QOS_DOWNSCALED, QOS_PAUSED, settings
from tests.systemd.conftest import UNIT, done
from waldur_site_agent_actors.simulators.waldur import WaldurSimulator
from waldur_site_agent_actors.simulators.waldur.client import ConsumerClient

pytestmark = pytest.mark.systemd

PACKAGE = "waldur-site-agent"
USER = "waldur-site-agent"
CONFIG = "/etc/waldur-site-agent/config.toml"
DROP_INS = "/etc/systemd/system/waldur-site-agent.service.d"
TEST_DROP_IN = """[Service]
WatchdogSec=4s
RestartSec=1s
"""
# Short periods, so that an order placed while the agent runs is seen within seconds.
PERIODS = {
    "order_process_period_minutes": 0.05,
    "membership_sync_period_minutes": 0.05,
    "report_period_minutes": 0.5,
}


@pytest.fixture(scope="module")
def waldur() -> Iterator[WaldurSimulator]:
    with WaldurSimulator(tick_interval=0) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def consumer(waldur: WaldurSimulator) -> Iterator[ConsumerClient]:
    client = ConsumerClient(waldur.api_url, waldur.staff_token)
    yield client
    client.close()


@pytest.fixture(scope="module")
def machine(container: Container, built: Built) -> Iterator[dict[str, str]]:
    """The container without the package, its config or its user; the .deb handed in."""

    def forget() -> None:
        container.run("dpkg", "--purge", PACKAGE, check=False)
        container.run("rm", "-rf", "/etc/waldur-site-agent", DROP_INS, "/home/aandersen")
        container.run("userdel", USER, check=False)
        container.run("systemctl", "daemon-reload")

    forget()
    yield {"deb": container.hand_in(built.deb), "version": built.version}
    forget()


def main_pid(container: Container) -> str:
    return container.show(UNIT, "MainPID")["MainPID"]


def signal_main_process(container: Container, signal: str) -> dict[str, str]:
    """`kill -SIGNAL` to the unit's main process; its properties before. MainPID is 0 while the
    unit has no process, and `kill 0` would signal the test run's own process group."""
    before = container.show(UNIT, "MainPID", "NRestarts", "ActiveState", "SubState")
    assert int(before["MainPID"]) > 0, f"the service has no main process: {before}"
    container.run("sh", "-c", f"kill -{signal} {before['MainPID']}")  # the shell has kill
    return before


def restarted(container: Container, old_pid: str) -> dict[str, str]:
    """The unit's properties once it runs again under another main process."""

    def again() -> dict[str, str] | None:
        props = container.show(UNIT, "MainPID", "ActiveState", "SubState", "NRestarts")
        running = props["ActiveState"] == "active" and props["SubState"] == "running"
        return props if running and props["MainPID"] not in ("0", old_pid) else None

    return wait_for(again, timeout=90, what="the service running again")


def config_text(container: Container) -> str:
    return container.read(CONFIG)


def write_config(container: Container, text: str) -> None:
    """As `init` leaves it: readable by the service user only."""
    container.write(CONFIG, text, mode="600", owner=USER)


def with_periods(text: str, **overrides: Any) -> str:
    """`init`'s file with top-level keys set first (they must precede its tables)."""
    lines = [f"{key} = {value}" for key, value in {**PERIODS, **overrides}.items()]
    kept = [line for line in text.splitlines() if line.split("=")[0].strip() not in PERIODS]
    return "\n".join(lines + kept) + "\n"


def test_install_init_and_enable_reach_ready(container, machine, waldur):
    installed = container.run("dpkg", "-i", machine["deb"])
    assert "waldur-site-agent init" in installed.stdout  # the next steps, said once installed
    summary = waldur.summary()
    written = container.run(
        "waldur-site-agent", "init", "--non-interactive",
        "--url", waldur.api_url, "--token", waldur.provider_token,
        "--offering", summary["offerings"][0]["uuid"], "--backend", "demo",
        "--unit-factor", "cpu=60000", "--no-backend-check",
    )  # fmt: skip
    assert f"Wrote {CONFIG}" in written.stdout
    write_config(container, with_periods(config_text(container)))
    container.write(f"{DROP_INS}/test.conf", TEST_DROP_IN)
    container.run("systemctl", "daemon-reload")

    container.run("systemctl", "enable", "--now", UNIT)  # returns once the agent said READY=1
    props = container.show(UNIT, "ActiveState", "SubState", "StatusText", "User")
    assert (props["ActiveState"], props["SubState"], props["User"]) == ("active", "running", USER)
    assert props["StatusText"].startswith("1 offering(s): 1 "), props
    # Written before READY: `status` answers as soon as `systemctl start` returned.
    status = container.run("waldur-site-agent", "status", check=False)
    assert status.returncode == 0, status
    assert "RUNNING" in status.stdout
    assert container.run("stat", "-c", "%U", "/run/waldur-site-agent/status.json").stdout == (
        f"{USER}\n"
    )


def test_an_order_is_served(container, machine, waldur, consumer):
    summary = waldur.summary()
    offering, project = summary["offerings"][0], summary["projects"][0]
    order = consumer.order(offering["url"], project["url"], {"cpu": 1}, name="under systemd")
    resource = consumer.resource(done(consumer, order["uuid"])["marketplace_resource_uuid"])
    assert resource["backend_id"] == "demo_under-systemd"
    owner = container.run("stat", "-c", "%U", "/var/lib/waldur-site-agent/demo-backend.sqlite")
    assert owner.stdout.strip() == USER


def test_kill_9_is_restarted_and_no_order_is_lost(container, machine, waldur, consumer):
    summary = waldur.summary()
    offering, project = summary["offerings"][0], summary["projects"][1]
    orders = [
        consumer.order(offering["url"], project["url"], {"cpu": 1}, name=f"crash {i}")
        for i in range(3)
    ]
    before = signal_main_process(container, "9")
    after = restarted(container, before["MainPID"])
    assert int(after["NRestarts"]) == int(before["NRestarts"]) + 1
    for order in orders:
        done(consumer, order["uuid"])


def watchdog_dump_written(journal: str) -> bool:
    """The watchdog's abort and faulthandler's stacks, down to the main thread's, or cut short
    by faulthandler itself: it reads the other threads' stacks while they run (systemd sends
    SIGCONT with the abort) and can crash on one midway (docs/runtime.md)."""
    started = ("Watchdog timeout (limit 4s)", "Fatal Python error: Aborted", "call first):")
    ended = ("agent/service.py", "Fatal Python error: Segmentation fault")
    return all(text in journal for text in started) and any(text in journal for text in ended)


def test_a_stopped_agent_is_caught_by_the_watchdog(container, machine, waldur, consumer):
    summary = waldur.summary()
    offering, project = summary["offerings"][0], summary["projects"][0]
    before = signal_main_process(container, "STOP")
    after = restarted(container, before["MainPID"])
    assert int(after["NRestarts"]) == int(before["NRestarts"]) + 1
    # Aborted by the watchdog, the agent wrote where every thread was (faulthandler), the main
    # thread last. journald may still be reading it when the new agent is up.
    journal = ""
    for _ in range(20):
        journal = container.journal(UNIT, "-n", "1000")
        if watchdog_dump_written(journal):
            break
        time.sleep(0.5)
    dump = journal[journal.find("Watchdog timeout") :]
    assert watchdog_dump_written(journal), f"the journal from the abort on:\n{dump}"
    order = consumer.order(offering["url"], project["url"], {"cpu": 1}, name="after watchdog")
    done(consumer, order["uuid"])


def test_reload_applies_a_good_file_and_fails_on_a_bad_one(container, machine):
    pid = main_pid(container)
    good = config_text(container)
    write_config(container, with_periods(good, report_period_minutes=0.6))
    reloaded = container.run("systemctl", "reload", UNIT, check=False)
    assert reloaded.returncode == 0, reloaded
    journal = container.journal(UNIT, "-n", "30")
    assert "reload done: accepted; restarted: " in journal  # the agent's own verdict
    assert "config reloaded; restarted:" in journal

    write_config(container, good.replace('backend_type = "demo"', "backend_type = 42"))
    refused = container.run("systemctl", "reload", UNIT, check=False)
    assert refused.returncode != 0, refused
    journal = container.journal(UNIT, "-n", "30")
    assert "backend_type" in journal and "keeps its config" in journal
    props = container.show(UNIT, "ActiveState", "MainPID")
    assert props == {"ActiveState": "active", "MainPID": pid}
    # `status` finds the running agent in the unit's runtime directory, whatever the file says.
    status = container.run("waldur-site-agent", "status", check=False)
    assert status.returncode == 0, status
    assert "last reload" in status.stdout and "accepted" in status.stdout
    write_config(container, good)


def test_metrics_are_scraped_under_the_hardened_unit(container, machine):
    """The scrape server runs under the unit's system call filter, lowered to nice 10 (the
    unit allows setpriority), and answers from the host over the shared network."""
    good = config_text(container)
    port = free_port()
    document = tomllib.loads(good)
    document["metrics"] = {**document.get("metrics", {}), "enabled": True, "listen_port": port}
    write_config(container, tomli_w.dumps(document))
    try:
        reloaded = container.run("systemctl", "reload", UNIT, check=False)
        assert reloaded.returncode == 0, reloaded
        url = f"http://127.0.0.1:{port}/metrics"
        samples = wait_for(lambda: answered(url), timeout=60, what=f"an answer from {url}")
        assert value(samples, "waldur_site_agent_offering_state", state="running") == 1, samples
        built = series(samples, "waldur_site_agent_build_info")
        assert built and all(labels.get("version") for labels in built), built
        children = container.run("sh", "-c", CHILDREN.format(pid=main_pid(container))).stdout
        servers = [line.split() for line in children.splitlines() if "metrics_server.py" in line]
        assert [server[1] for server in servers] == ["10"], children  # one server, at nice 10
    finally:
        write_config(container, good)
        container.run("systemctl", "reload", UNIT)
    wait_for(lambda: answered(url) is None, what="the listener closed by the reload")


# Each child process of PID: `pid nice command line` (nice: field 19 of /proc/PID/stat).
CHILDREN = (
    "for p in $(cat /proc/{pid}/task/*/children); do"
    " echo $p $(cut -d' ' -f19 /proc/$p/stat) $(tr '\\000' ' ' < /proc/$p/cmdline); done"
)


def answered(url: str) -> Samples | None:
    """The samples `url` serves; None while nothing answers there."""
    try:
        return scrape(url)
    except OSError:
        return None


def test_stop_during_a_hung_waldur_call_exits_0_with_one_line(container, machine, waldur):
    pid = main_pid(container)
    # The agent's next Waldur call gets no answer for 10 minutes (its read timeout is 60 s).
    fault = waldur.faults.add(endpoint="*", hang=600, times=1)
    try:
        wait_for(lambda: fault.times == 0, what="a Waldur call hanging")
        cursor = container.run("journalctl", "-u", UNIT, "-n", "0", "--show-cursor")
        since = cursor.stdout.strip().rsplit("cursor: ", 1)[-1]
        started = time.monotonic()
        container.run("systemctl", "stop", UNIT)
        took = time.monotonic() - started
    finally:
        waldur.faults.clear()
    props = container.show(UNIT, "ActiveState", "Result", "ExecMainStatus", "ExecMainPID")
    assert props["ActiveState"] == "inactive"  # not "failed"
    assert (props["Result"], props["ExecMainStatus"], props["ExecMainPID"]) == ("success", "0", pid)
    journal = container.journal(UNIT, f"--after-cursor={since}")
    assert "Traceback" not in journal
    (line,) = [text for text in journal.splitlines() if "stopped without waiting for" in text]
    assert "still in a call after 30 s" in line
    assert took < 60, f"{took:.0f} s: past TimeoutStopSec"
    container.run("systemctl", "start", UNIT)


def test_the_journal_has_priorities_one_timestamp_and_no_token(container, machine, waldur):
    raw = container.run("journalctl", "-u", UNIT, "-o", "json", "--no-pager").stdout
    entries = [json.loads(line) for line in raw.splitlines()]
    agent = [e for e in entries if e.get("SYSLOG_IDENTIFIER") == "waldur-site-agent"]
    messages = {(e["PRIORITY"], e["MESSAGE"].split(":", 1)[0]) for e in agent}
    assert ("6", "INFO agent.service [-]") in messages  # "agent ... started", among others
    assert ("3", "ERROR agent.service [-]") in messages  # the stop past its deadline
    errors = container.journal(UNIT, "-p", "err")
    assert "stopped without waiting for" in errors
    assert "started: 1 offering(s)" not in errors
    for entry in agent:
        message = entry["MESSAGE"]
        assert not re.match(r"\d{4}-\d\d-\d\d", message), message  # the journal stamps it
        assert not re.match(r"<\d>", message), message  # the prefix was read, not kept
    for token in (waldur.provider_token, waldur.staff_token):
        assert token not in raw


def repackaged(deb: Path, release: str, out: Path) -> Path:
    """The same .deb as a newer release: an upgrade for dpkg, without a second build."""
    tree = out / "tree"
    subprocess.run(["dpkg-deb", "-R", str(deb), str(tree)], check=True)
    control = tree / "DEBIAN" / "control"
    text = re.sub(r"(?m)^Version: (.*)-\d+$", rf"Version: \1-{release}", control.read_text())
    control.write_text(text)
    target = out / f"waldur-site-agent-{release}.deb"
    subprocess.run(
        ["dpkg-deb", "-Zgzip", "-z1", "-b", str(tree), str(target)],
        check=True,
        capture_output=True,
    )
    return target


def test_upgrade_in_place_keeps_the_config_and_restarts(
    container, machine, built, waldur, consumer, tmp_path
):
    before, pid = config_text(container), main_pid(container)
    newer = container.hand_in(repackaged(built.deb, "99", tmp_path))
    container.run("dpkg", "-i", newer)
    version = container.run("dpkg-query", "-W", "-f", "${Version}", PACKAGE).stdout
    assert version.endswith("-99")
    assert config_text(container) == before
    restarted(container, pid)  # try-restart: the new code runs
    summary = waldur.summary()
    offering, project = summary["offerings"][0], summary["projects"][0]
    order = consumer.order(offering["url"], project["url"], {"cpu": 1}, name="after upgrade")
    done(consumer, order["uuid"])


@pytest.mark.slurm
def test_slurm_and_home_directories_under_the_hardened_unit(
    container, machine, waldur, consumer, slurm
):
    """SLURM's commands (munge, TCP to slurmdbd) and mkhomedir_helper work under the unit's
    ProtectProc, ProcSubset and system call filter, with the homedir drop-in as shipped; without
    it, the agent says once that it cannot create home directories, and how to fix it."""
    props = container.show(UNIT, "ProtectProc", "ProcSubset", "SystemCallFilter")
    assert (props["ProtectProc"], props["ProcSubset"]) == ("invisible", "pid")
    allowed = props["SystemCallFilter"].split()
    assert "openat" in allowed and "setuid" not in allowed and "sched_setscheduler" not in allowed
    assert "setpriority" in allowed  # out of @resources, only for the metrics server's nice
    assert "fchownat" not in allowed  # until the homedir drop-in allows @chown
    run_id = uuid.uuid4().hex[:6]
    slurm.ensure_qos(QOS_PAUSED, QOS_DOWNSCALED)
    members = ("aandersen", "bberg")
    for user in members:
        slurm.ensure_unix_user(user)
        container.run(
            "useradd", "--no-create-home", "--home-dir", f"/home/{user}", user, check=False
        )
    # The cluster's client config as seen inside, where its directory is bound elsewhere.
    shared = str(container.shared)
    conf = Path(slurm.conf).read_text().replace(shared, container.shared_inside)
    container.write("/etc/slurm/slurm.conf", conf)
    # slurmdbd knows users by the uid munge vouches for: the service user's, on this machine.
    uid = int(container.run("id", "-u", USER).stdout)
    try:
        operator = pwd.getpwuid(uid).pw_name
    except KeyError:
        operator = "wsa-systemd"
        subprocess.run(["useradd", "--system", "--uid", str(uid), operator], check=True)
    slurm.run("sacctmgr", "-i", "add", "user", operator, "account=root", "adminlevel=Operator",
              check=False)  # fmt: skip
    good = config_text(container)
    offering = waldur.summary()["offerings"][0]
    entry = offering_config(waldur, offering, Path("/var/lib/waldur-site-agent"))
    entry.update(
        backend_type="slurm",
        backend_settings=settings(run_id, create_homedirs=True),
        backend_components=COMPONENTS,
    )
    write_config(container, tomli_w.dumps({**PERIODS, "offerings": [entry]}))
    container.run("systemctl", "daemon-reload")
    container.run("systemctl", "restart", UNIT)
    prefixes = [
        settings(run_id)[k] for k in ("allocation_prefix", "project_prefix", "customer_prefix")
    ]
    refusal = "home directories are on but this process cannot create them"
    try:
        project = waldur.summary()["projects"][0]

        # The packaged unit alone (ProtectHome=yes, no capabilities): said once, with the fix.
        def allocation(limits: dict[str, int]) -> None:
            order = consumer.order(offering["url"], project["url"], limits)
            created = done(consumer, order["uuid"])["marketplace_resource_uuid"]
            account = consumer.resource(created)["backend_id"]
            assert slurm.account(account) is not None
            wait_for(lambda: slurm.users(account) == set(members), what="the team in SLURM")

        allocation({"cpu": 100, "mem": 5})
        wait_for(lambda: refusal in container.journal(UNIT), what="the refusal")
        allocation({"cpu": 50, "mem": 5})  # its members refused again, silently
        (said,) = [line for line in container.journal(UNIT).splitlines() if refusal in line]
        assert "homedirs.conf" in said and "enable_user_homedir_account_creation: false" in said
        paths = [f"/home/{u}" for u in members]
        assert container.run("stat", *paths, check=False).returncode != 0
        # The drop-in as the package ships it: the next membership cycle creates them.
        container.run(
            "install", "-D", "-m", "644", "/usr/share/waldur-site-agent/homedirs.conf",
            f"{DROP_INS}/homedirs.conf",
        )  # fmt: skip
        container.run("systemctl", "daemon-reload")
        container.run("systemctl", "restart", UNIT)
        homes = wait_for(
            lambda: (
                out := container.run("stat", "-c", "%n %U %a", *paths, check=False)
            ).returncode == 0 and out.stdout,
            what="home directories",
        )  # fmt: skip
        assert homes.split("\n")[:2] == [f"/home/{u} {u} 700" for u in members]
    finally:
        write_config(container, good)
        container.run("rm", "-f", f"{DROP_INS}/homedirs.conf")
        container.run("systemctl", "daemon-reload")
        container.run("systemctl", "restart", UNIT)
        for prefix in prefixes:
            for row in slurm.sacctmgr("show", "account", "format=Account"):
                if row[0].startswith(prefix):
                    slurm.run("sacctmgr", "-i", "remove", "account", f"name={row[0]}", check=False)


def test_remove_then_purge(container, machine):
    config = config_text(container)
    container.run("dpkg", "--remove", PACKAGE)
    assert container.run("systemctl", "is-active", UNIT, check=False).stdout.strip() == "inactive"
    for gone in ("/opt/waldur-site-agent", "/usr/bin/waldur-site-agent",
                 "/usr/lib/systemd/system/waldur-site-agent.service"):  # fmt: skip
        assert container.run("test", "-e", gone, check=False).returncode == 1, gone
    assert container.run("test", "-d", "/var/lib/waldur-site-agent", check=False).returncode == 0
    container.run("dpkg", "--purge", PACKAGE)
    for gone in ("/var/lib/waldur-site-agent", "/var/log/waldur-site-agent"):
        assert container.run("test", "-e", gone, check=False).returncode == 1, gone
    assert config_text(container) == config  # the operator's, written by `init`: kept
