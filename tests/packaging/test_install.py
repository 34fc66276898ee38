"""The packages as an operator gets them: built, inspected, installed, run as a service, purged.

In file order: the .rpm and .deb are read without installing; the .deb is installed; the
installed agent writes its config with `init`, runs as the service user until it reports READY
(and WATCHDOG, RELOADING, STOPPING) on a NOTIFY_SOCKET of ours and serves an order; the purge
leaves only the operator's config. systemd does not run on this machine: here the unit is
checked with `systemd-analyze verify`, its capabilities for home directories with setpriv;
tests/systemd runs the same .deb under a real systemd in a container.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import terminal, wait_for
from tests.packaging.conftest import USER, Built, purge, run
from waldur_site_agent_actors.simulators.waldur import WaldurSimulator
from waldur_site_agent_actors.simulators.waldur.client import ConsumerClient

pytestmark = pytest.mark.packaging

BIN = "/usr/bin/waldur-site-agent"
UNIT = "/usr/lib/systemd/system/waldur-site-agent.service"
HOMEDIRS = "/usr/share/waldur-site-agent/homedirs.conf"
CONFIG = Path("/etc/waldur-site-agent/config.toml")
EXAMPLE = Path("/etc/waldur-site-agent/config.example.toml")
STATE, LOGS, VENV = Path("/var/lib/waldur-site-agent"), Path("/var/log/waldur-site-agent"), "/opt"


def as_service(*argv: str) -> list[str]:
    """argv run as the service user, as the unit runs it (no new privileges, no capabilities)."""
    return ["setpriv", "--reuid", USER, "--regid", USER, "--init-groups", "--no-new-privs", *argv]


def test_rpm_holds_the_files_scripts_and_config_marks(built: Built):
    files = run("rpm", "-qlp", str(built.rpm)).stdout.split()
    for path in (BIN, UNIT, str(EXAMPLE), "/opt/waldur-site-agent/bin/python3.11"):
        assert path in files
    assert HOMEDIRS in files
    scripts = run("rpm", "-qp", "--scripts", str(built.rpm)).stdout
    for scriptlet in ("preinstall", "postinstall", "preuninstall", "postuninstall"):
        assert f"{scriptlet} scriptlet" in scripts
    assert "useradd --system" in scripts
    assert "try-restart waldur-site-agent.service" in scripts
    # %config(noreplace): an edited example survives upgrades (flags c = config, n = noreplace)
    flags = run("rpm", "-qp", "--qf", "[%{FILEFLAGS:fflags} %{FILENAMES}\n]", str(built.rpm))
    assert f"cn {EXAMPLE}" in flags.stdout.splitlines()
    requires = run("rpm", "-qp", "--requires", str(built.rpm)).stdout.split()
    assert "/usr/bin/python3.11" in requires


def test_deb_declares_its_python_and_conffile(built: Built):
    assert "python3.11" in run("dpkg-deb", "-f", str(built.deb), "Depends").stdout
    with tempfile.TemporaryDirectory() as control:
        run("dpkg-deb", "-e", str(built.deb), control)
        assert Path(control, "conffiles").read_text().split() == [str(EXAMPLE)]


def test_monitoring_files_and_the_metrics_extra_ship(installed: Built):
    """docs/monitoring.md: the dashboard and alert rules are installed, and `metrics.enabled`
    needs no pip on the host."""
    monitoring = Path("/usr/share/waldur-site-agent/monitoring")
    assert json.loads((monitoring / "waldur-site-agent-dashboard.json").read_text())["panels"]
    assert (
        "WaldurSiteAgentOfferingFailed" in (monitoring / "waldur-site-agent-alerts.yml").read_text()
    )
    assert Path("/usr/share/doc/waldur-site-agent/monitoring.md").is_file()
    run(f"{VENV}/waldur-site-agent/bin/python", "-c", "import prometheus_client")


def test_installed_layout_user_and_cli(installed: Built):
    user = pwd.getpwnam(USER)
    assert user.pw_uid < 1000 and user.pw_shell.endswith("nologin")
    for directory in (STATE, LOGS):
        info = directory.stat()
        assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (user.pw_uid, 0o750), directory
    # A wrapper running the agent's module, not a link into the venv (test_upstream_plugins.py).
    wrapper = Path(BIN).read_text()
    assert wrapper.endswith(
        "/opt/waldur-site-agent/bin/python -P -m waldur_site_agent_actors.agent.commands "
        'waldur-site-agent "$@"\n'
    )
    version = installed.version.split("-")[0]
    assert run(BIN, "--version").stdout.strip() == f"waldur-site-agent {version}"
    checked = run(BIN, "validate", "-c", str(EXAMPLE), "--strict")
    assert "OK (1 offering)" in checked.stdout
    # The venv is bound to the system interpreter and knows nothing of this checkout.
    probe = "import waldur_site_agent_actors as a, sys; print(a.__file__, sys.base_prefix)"
    where = run("/opt/waldur-site-agent/bin/python", "-c", probe, cwd="/")
    site = "/opt/waldur-site-agent/lib/python3.11/site-packages"
    assert where.stdout.split() == [f"{site}/waldur_site_agent_actors/__init__.py", "/usr"]
    # One namespace: nothing generic at the top of site-packages for another package to shadow.
    for generic in ("agent", "actors", "backends", "config", "simulators"):
        assert not Path(site, generic).exists(), generic


def test_unit_and_homedir_drop_in_pass_systemd_analyze_verify(installed: Built, tmp_path):
    plain = run("systemd-analyze", "verify", UNIT, check=False)
    assert (plain.returncode, plain.stdout + plain.stderr) == (0, "")
    # With the drop-in applied, as an operator would apply it.
    drop_ins = tmp_path / "waldur-site-agent.service.d"
    drop_ins.mkdir()
    (drop_ins / "homedirs.conf").write_text(
        Path("/usr/share/waldur-site-agent/homedirs.conf").read_text()
    )
    unit = tmp_path / "waldur-site-agent.service"
    unit.write_text(Path(UNIT).read_text())
    env = {**os.environ, "SYSTEMD_UNIT_PATH": f"{tmp_path}:"}
    with_drop_in = run("systemd-analyze", "verify", str(unit), check=False, env=env)
    assert (with_drop_in.returncode, with_drop_in.stdout + with_drop_in.stderr) == (0, "")


def test_homedir_drop_in_capabilities_let_the_service_user_create_homes(installed: Built):
    lines = Path(HOMEDIRS).read_text().splitlines()
    (line,) = [text for text in lines if text.startswith("AmbientCapabilities=")]
    caps = ",".join("+" + c.removeprefix("CAP_").lower() for c in line.split("=", 1)[1].split())
    home = Path("/home/wsa-homedir-probe")
    run("useradd", "--no-create-home", "--home-dir", str(home), home.name)
    try:
        mkhomedir = ["/usr/sbin/mkhomedir_helper", home.name, "0077"]
        without = run(*as_service(*mkhomedir), check=False)
        assert without.returncode != 0 and not home.exists()
        granted = ["--inh-caps", caps, "--ambient-caps", caps]
        run(*as_service(*granted, *mkhomedir))
        info = home.stat()
        assert info.st_uid == pwd.getpwnam(home.name).pw_uid
        assert stat.S_IMODE(info.st_mode) == 0o700
    finally:
        run("userdel", "--remove", home.name, check=False)


class NotifySocket:
    """The socket systemd would listen on for a Type=notify service's datagrams."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "notify"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))
        os.chmod(self.path, 0o777)  # the service user sends to it
        self.received: list[str] = []

    def wait_for(self, message: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while message not in self.received:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {message} within {timeout:g} s; got {self.received}"
            self.sock.settimeout(remaining)
            try:
                self.received.extend(self.sock.recv(4096).decode().splitlines())
            except TimeoutError:
                continue

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def notify() -> Iterator[NotifySocket]:
    directory = Path(tempfile.mkdtemp(prefix="wsa-notify-"))
    directory.chmod(0o755)
    sock = NotifySocket(directory)
    yield sock
    sock.close()
    sock.path.unlink()
    directory.rmdir()


def test_init_then_the_service_reports_ready_and_serves_an_order(installed: Built, notify):
    with WaldurSimulator(tick_interval=0) as sim:
        summary = sim.summary()
        offering, project = summary["offerings"][0], summary["projects"][0]
        # `init` as an operator runs it: root, into /etc/waldur-site-agent, the default file.
        written = run(
            BIN,
            "init",
            "--non-interactive",
            "--url",
            sim.api_url,
            "--token",
            sim.provider_token,
            "--offering",
            offering["uuid"],
            "--backend",
            "demo",
            "--unit-factor",
            "cpu=60000",
            "--no-backend-check",
        )
        assert f"Wrote {CONFIG} (mode 600, owner {USER})" in written.stdout
        info = CONFIG.stat()
        assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (pwd.getpwnam(USER).pw_uid, 0o600)
        assert "OK (1 offering)" in run(*as_service(BIN, "validate", "-c", str(CONFIG))).stdout
        diagnosed = run(*as_service(BIN, "diagnostics", "-c", str(CONFIG)), cwd=STATE)
        assert "backend demo: ping ok" in diagnosed.stdout

        consumer = ConsumerClient(sim.api_url, sim.staff_token)
        order = consumer.order(offering["url"], project["url"], {"cpu": 2}, name="from the deb")
        env = {
            "PATH": "/usr/bin:/bin",
            "NOTIFY_SOCKET": str(notify.path),
            "WATCHDOG_USEC": "2000000",  # a ping at least every second while healthy
        }
        log = open(LOGS / "test-run.log", "wb")  # noqa: SIM115
        agent = subprocess.Popen(
            as_service(BIN, "run", "-c", str(CONFIG)), env=env, cwd=STATE, stdout=log, stderr=log
        )
        agent_log = lambda: (LOGS / "test-run.log").read_text(errors="replace")  # noqa: E731
        try:
            notify.wait_for("READY=1")
            notify.wait_for("WATCHDOG=1")
            done = wait_for(
                lambda: terminal(consumer, order["uuid"]), what="the order", log=agent_log
            )
            assert done["state"] == "done", f"order {done['state']}: {done.get('error_message')}"
            # The service user's files are where the package put its state directory.
            database = STATE / "demo-backend.sqlite"
            assert database.stat().st_uid == pwd.getpwnam(USER).pw_uid
            status = run(*as_service(BIN, "status", "-c", str(CONFIG)))
            assert "RUNNING" in status.stdout

            notify.received.clear()
            agent.send_signal(signal.SIGHUP)
            notify.wait_for("RELOADING=1")
            notify.wait_for("READY=1")

            agent.send_signal(signal.SIGTERM)
            notify.wait_for("STOPPING=1")
            assert agent.wait(timeout=60) == 0
        except BaseException:
            # The purge at the end of the module removes the log: show it now.
            print(f"the agent's log:\n{agent_log()}")
            raise
        finally:
            if agent.poll() is None:
                agent.kill()
                agent.wait()
            log.close()
            consumer.close()


def test_init_for_slurm_installs_the_home_directory_drop_in(installed: Built, tmp_path):
    """Home directories are on by default: root's `init` for a SLURM offering installs the
    drop-in that lets the service create them (ProtectHome=yes would refuse them)."""
    drop_in = Path("/etc/systemd/system/waldur-site-agent.service.d/homedirs.conf")
    output = tmp_path / "slurm.yaml"
    with WaldurSimulator(tick_interval=0) as sim:
        offering = sim.summary()["offerings"][0]
        try:
            written = run(
                BIN, "init", "--non-interactive", "-o", str(output),
                "--url", sim.api_url, "--token", sim.provider_token,
                "--offering", offering["uuid"], "--backend", "slurm", "--no-backend-check",
            )  # fmt: skip
            assert f"Installed {drop_in}" in written.stdout
            assert drop_in.read_text() == Path(HOMEDIRS).read_text()
            assert stat.S_IMODE(drop_in.stat().st_mode) == 0o644
            assert "enable_user_homedir_account_creation: true" in output.read_text()
        finally:
            drop_in.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                drop_in.parent.rmdir()


def test_reinstall_keeps_an_edited_example_and_the_operators_config(installed: Built):
    EXAMPLE.write_text(EXAMPLE.read_text() + "# edited by the operator\n")
    before = CONFIG.read_bytes()
    run("dpkg", "-i", "--force-confold", str(installed.deb))
    assert EXAMPLE.read_text().endswith("# edited by the operator\n")
    assert CONFIG.read_bytes() == before


def test_purge_leaves_only_the_operators_config(installed: Built):
    purge()
    for gone in (BIN, UNIT, str(EXAMPLE), VENV + "/waldur-site-agent", str(STATE), str(LOGS)):
        assert not os.path.lexists(gone), gone
    assert CONFIG.exists()  # written by `init`, not shipped: Debian policy keeps it
    uid = pwd.getpwnam(USER).pw_uid
    owned = run("find", "/", "-xdev", "-uid", str(uid), "-not", "-path", "/proc/*", check=False)
    assert owned.stdout.split() == [str(CONFIG)]
