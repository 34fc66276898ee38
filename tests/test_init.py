"""`waldur-site-agent init` on a terminal (pexpect) and from flags, against the Waldur simulator."""

from __future__ import annotations

import re
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest
import yaml

from tests.e2e.harness import DemoDb, terminal, wait_for
from waldur_site_agent_actors.config import load_file
from waldur_site_agent_actors.simulators.waldur import WaldurSimulator
from waldur_site_agent_actors.simulators.waldur.client import ConsumerClient

ROOT = Path(__file__).resolve().parents[1]
AGENT = [sys.executable, "-m", "waldur_site_agent_actors.agent.cli"]


@pytest.fixture(scope="module")
def sim():
    with WaldurSimulator(tick_interval=0) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def offering(sim):
    return sim.summary()["offerings"][0]


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/"


def init(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*AGENT, "init", *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def flags(sim, tmp_path: Path, *extra: str, token: bool = True) -> list[str]:
    return [
        "--non-interactive",
        "--url",
        sim.api_url,
        *(["--token", sim.provider_token] if token else []),
        "--backend",
        "demo",
        "--setting",
        f"path={tmp_path / 'demo.sqlite'}",
        "--state-dir",
        str(tmp_path / "state"),
        *extra,
    ]


def test_interactive_asks_again_after_an_unreachable_url_and_a_wrong_token(sim, offering, tmp_path):
    output = tmp_path / "agent.toml"
    child = pexpect.spawn(
        AGENT[0],
        [*AGENT[1:], "init", "-o", str(output), "--state-dir", str(tmp_path / "state")],
        cwd=str(ROOT),
        encoding="utf-8",
        timeout=20,
    )
    transcript: list[str] = []
    child.logfile_read = _Collect(transcript)
    child.expect_exact("Waldur API URL")
    child.sendline(closed_port_url())
    child.expect_exact("cannot reach Waldur at")
    child.expect_exact("Waldur API URL")
    # Without the trailing `api/`: init finds the API root by itself.
    child.sendline(sim.api_url.removesuffix("api/"))
    child.expect_exact(f"at {sim.api_url}")
    child.expect_exact("API token")
    child.sendline("not-a-token")
    child.expect_exact("Waldur refused this token (HTTP 401)")
    child.expect_exact("API token")
    child.sendline(sim.provider_token)
    child.expect_exact("signed in as provider")
    child.expect_exact(f"1. {offering['name']}")
    child.expect_exact("Offering (number or UUID) [1]:")
    child.sendline("7")
    child.expect_exact("no offering '7'")
    child.sendline("")
    child.expect_exact("Backend")
    child.sendline("no-such-backend")
    child.expect_exact("no backend 'no-such-backend' installed")
    child.sendline("demo")
    child.expect_exact("Settings of demo")
    child.expect_exact("path:")
    child.sendline(str(tmp_path / "demo.sqlite"))
    child.expect_exact("usage_per_second [100.0]:")
    child.sendline("fast")
    child.expect_exact("usage_per_second: Expected `float`")
    child.sendline("")  # Enter keeps the default after all
    child.expect_exact("allocation_prefix [demo_]:")
    child.sendline("site_")
    skip_settings(child, until="Serve cpu (CPU, k-Hours, billed by limit)? [Y/n]")
    child.sendline("")
    child.expect_exact("backend units per k-Hours (unit_factor) [1]:")
    child.sendline("60000")
    child.expect_exact("Serve mem")
    child.sendline("n")
    child.expect_exact("Serve gpu")
    child.sendline("y")
    child.expect_exact("backend units per gpu-Hours (unit_factor) [1]:")
    child.sendline("60")
    child.expect_exact("backend demo: ping ok")
    child.expect_exact(f"Wrote {output} (mode 600)")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, "".join(transcript)

    assert sim.provider_token not in "".join(transcript)  # typed blind, never echoed
    assert stat.S_IMODE(output.stat().st_mode) == 0o600
    (written,) = load_file(output, strict=True).config.offerings
    assert written.waldur_api_url == sim.api_url
    assert written.waldur_api_token == sim.provider_token
    assert written.waldur_offering_uuid == offering["uuid"]
    assert written.backend_settings == {
        "path": str(tmp_path / "demo.sqlite"),
        "allocation_prefix": "site_",
    }
    assert sorted(written.backend_components) == ["cpu", "gpu"]
    cpu = written.backend_components["cpu"]
    assert (cpu.accounting_type, cpu.unit_factor, cpu.label) == ("limit", 60000, "CPU")

    # ... and `run` serves the offering with it: an order reaches the backend in backend units.
    consumer = ConsumerClient(sim.api_url, sim.staff_token)
    project = sim.summary()["projects"][0]
    order = consumer.order(offering["url"], project["url"], {"cpu": 3}, name="from init")
    log = tmp_path / "agent.log"
    with log.open("wb") as sink:
        agent = subprocess.Popen(
            [*AGENT, "run", "-c", str(output)], cwd=ROOT, stdout=sink, stderr=sink
        )
    try:
        done = wait_for(
            lambda: terminal(consumer, order["uuid"]), what="the order", log=log.read_text
        )
        assert done["state"] == "done", done
        account = consumer.resource(done["marketplace_resource_uuid"])["backend_id"]
        assert account.startswith("site_")
        assert DemoDb(tmp_path / "demo.sqlite").limits(account) == {"cpu": 3 * 60000}
    finally:
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(timeout=30) == 0
        consumer.close()


def test_failed_checks_write_nothing_unless_told_to(sim, offering, tmp_path):
    output = tmp_path / "agent.toml"
    args = ["-o", str(output), "--setting", 'fail_on=["ping"]', "--components", "cpu"]
    args += ["--offering", offering["uuid"]]
    refused = init(*flags(sim, tmp_path, *args))
    assert refused.returncode == 1, refused.stderr
    assert "backend demo: ping FAILED: demo backend was told to fail on ping" in refused.stdout
    assert "checks failed, nothing written" in refused.stderr
    assert not output.exists()

    child = pexpect.spawn(
        AGENT[0],
        [*AGENT[1:], "init", *flags(sim, tmp_path, *args)[1:]],
        cwd=str(ROOT),
        encoding="utf-8",
        timeout=20,
    )
    skip_settings(child, until="(unit_factor) [1]:")  # the settings no flag gave
    child.sendline("")
    child.expect_exact("The checks failed: write the config anyway? [y/N]")
    child.sendline("y")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert load_file(output).config.offerings[0].backend_settings["fail_on"] == ["ping"]


def test_non_interactive_wrong_token_fails_and_writes_nothing(sim, tmp_path):
    output = tmp_path / "agent.toml"
    result = init(*flags(sim, tmp_path, "-o", str(output), "--token", "wrong"))
    assert result.returncode == 1
    assert "Waldur refused this token (HTTP 401)" in result.stderr
    assert "wrong" not in result.stderr + result.stdout
    assert not output.exists()


def test_non_interactive_unreachable_url_fails_and_writes_nothing(sim, tmp_path):
    output = tmp_path / "agent.toml"
    result = init(*flags(sim, tmp_path, "-o", str(output), "--url", closed_port_url()))
    assert result.returncode == 1
    assert "cannot reach Waldur at http://127.0.0.1:" in result.stderr
    assert not output.exists()


def test_non_interactive_yaml_with_token_file_and_unit_factors(sim, offering, tmp_path):
    output = tmp_path / "agent.yaml"
    token = tmp_path / "token"
    token.write_text(sim.provider_token + "\n")
    args = ["-o", str(output), "--token-file", str(token), "--offering", offering["uuid"]]
    args += ["--unit-factor", "cpu=60000", "--unit-factor", "mem=61440", "--no-backend-check"]
    result = init(*flags(sim, tmp_path, *args, token=False))
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(output.stat().st_mode) == 0o600
    document = yaml.safe_load(output.read_text())
    (entry,) = document["offerings"]
    assert entry["waldur_api_token"] == sim.provider_token
    assert entry["backend_components"]["mem"]["unit_factor"] == 61440
    assert entry["backend_components"]["gpu"]["unit_factor"] == 1
    validated = subprocess.run(
        [*AGENT, "validate", "-c", str(output), "--strict"], cwd=ROOT, capture_output=True
    )
    assert validated.returncode == 0, validated.stderr

    again = init(*flags(sim, tmp_path, *args, token=False))
    assert again.returncode == 2
    assert "exists (--force overwrites it)" in again.stderr


def test_non_interactive_input_errors_are_config_errors(sim, tmp_path):
    output = str(tmp_path / "agent.toml")
    no_backend = init(*flags(sim, tmp_path, "-o", output, "--backend", "nope"))
    assert no_backend.returncode == 2
    assert "no backend 'nope' installed" in no_backend.stderr
    bad_component = init(*flags(sim, tmp_path, "-o", output, "--unit-factor", "disk=2"))
    assert bad_component.returncode == 2
    assert "the offering has no component ['disk']" in bad_component.stderr
    bad_setting = init(*flags(sim, tmp_path, "-o", output, "--setting", "pending_seconds=soon"))
    assert bad_setting.returncode == 2
    assert "pending_seconds: Expected `float`" in bad_setting.stderr
    wrong_name = init(*flags(sim, tmp_path, "-o", output + ".yaml", "--format", "toml"))
    assert wrong_name.returncode == 2
    assert not Path(output).exists()


def slurm_init(sim, offering, output: Path, *extra: str) -> list[str]:
    return [
        *("-o", str(output), "--url", sim.api_url, "--token", sim.provider_token),
        *("--offering", offering["uuid"], "--backend", "slurm", "--no-backend-check"),
        *("--components", "cpu", "--unit-factor", "cpu=60000", *extra),
    ]


@pytest.mark.parametrize("answer", ["", "n"])
def test_slurm_asks_whether_to_create_home_directories_and_writes_the_answer(
    sim, offering, tmp_path, answer
):
    output = tmp_path / "agent.yaml"
    child = pexpect.spawn(
        AGENT[0], [*AGENT[1:], "init", *slurm_init(sim, offering, output)], cwd=str(ROOT),
        encoding="utf-8", timeout=20,
    )  # fmt: skip
    transcript: list[str] = []
    child.logfile_read = _Collect(transcript)
    skip_settings(child, until="Create users' home directories? [Y/n]")
    child.sendline(answer)  # Enter: yes, upstream's default
    child.expect(pexpect.EOF)
    child.close()
    said = "".join(transcript)
    assert child.exitstatus == 0, said
    assert (
        "the packaged service needs its drop-in /usr/share/waldur-site-agent/homedirs.conf" in said
    )
    (entry,) = yaml.safe_load(output.read_text())["offerings"]
    assert entry["backend_settings"]["enable_user_homedir_account_creation"] is (answer == "")
    assert "create_homedirs" not in entry["backend_settings"]  # asked once, under one name
    # Not the packaged agent run by root: the drop-in is not installed, the way to is said.
    hint = "under the packaged service, install its drop-in as root:\r\n  install -D -m 644"
    assert (hint in said) is (answer == "")


def test_non_interactive_slurm_writes_the_home_directory_setting(sim, offering, tmp_path):
    default = init(*slurm_init(sim, offering, tmp_path / "on.yaml", "--non-interactive"))
    assert default.returncode == 0, default.stderr
    settings = yaml.safe_load((tmp_path / "on.yaml").read_text())["offerings"][0]
    assert settings["backend_settings"]["enable_user_homedir_account_creation"] is True
    assert "install -D -m 644 /usr/share/waldur-site-agent/homedirs.conf" in default.stdout
    # Our name for it is accepted, written under upstream's.
    flag = ["--non-interactive", "--setting", "create_homedirs=false"]
    off = init(*slurm_init(sim, offering, tmp_path / "off.yaml", *flag))
    assert off.returncode == 0, off.stderr
    settings = yaml.safe_load((tmp_path / "off.yaml").read_text())["offerings"][0]
    assert settings["backend_settings"] == {"enable_user_homedir_account_creation": False}
    assert "homedirs.conf" not in off.stdout
    wrong = ["--non-interactive", "--setting", "enable_user_homedir_account_creation=maybe"]
    refused = init(*slurm_init(sim, offering, tmp_path / "bad.yaml", *wrong))
    assert refused.returncode == 2
    assert "enable_user_homedir_account_creation: Expected `bool`" in refused.stderr


def skip_settings(child: pexpect.spawn, until: str) -> None:
    """Enter for every remaining settings prompt (the demo plugin may grow more) until `until`."""
    prompts = [re.escape(until), r"\n  \w+( \[[^\]\r\n]*\])?: "]
    while child.expect(prompts) == 1:
        child.sendline("")


class _Collect:
    """pexpect's logfile: keeps what the child printed, for the assertion messages."""

    def __init__(self, into: list[str]) -> None:
        self.into = into

    def write(self, data: str) -> None:
        self.into.append(data)

    def flush(self) -> None:
        pass
