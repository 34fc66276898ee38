"""Home directories where the agent may not create them: as under the packaged unit without its
drop-in, the agent runs here in a process that may not (root without capabilities, so neither
writing another's directory nor chown; or a read-only mount, as `ProtectHome=yes` makes /home).
The refusal is recognised before `mkhomedir_helper` runs, said once per run with the fix, and
`diagnostics` says whether this process can create them."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from waldur_site_agent_actors.backends.slurm import homedirs

pytestmark = [
    pytest.mark.slurm,
    pytest.mark.skipif(os.getuid() != 0, reason="creating Unix users and mounts needs root"),
]

# Two membership cycles for two users, then `diagnostics`, logged to stdout.
SCRIPT = """
import logging, sys
from waldur_site_agent_actors.backends.slurm.backend import SlurmBackend
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(levelname)s %(message)s")
backend = SlurmBackend(
    {"allocation_prefix": "x_", "homedir_base_path": sys.argv[1]},
    {"cpu": {"accounting_type": "limit"}},
)
for cycle in range(2):
    backend.process_existing_users(set(sys.argv[2:]))
print("diagnostics:", backend.diagnostics())
"""
NO_CAPABILITIES = ["setpriv", "--inh-caps=-all", "--bounding-set=-all"]
PACKAGED_DROP_IN = Path(__file__).resolve().parents[2] / "packaging" / "homedirs.conf"


@pytest.fixture
def homes(tmp_path):
    """A home base (owned by `nobody`, as a directory root may not write without
    CAP_DAC_OVERRIDE) and two users whose passwd homes are in it."""
    base = tmp_path / "home"
    base.mkdir()
    os.chown(base, 65534, 65534)
    users = [f"h{uuid.uuid4().hex[:7]}" for _ in range(2)]
    for user in users:
        subprocess.run(["useradd", "-M", "-d", str(base / user), user], check=True)
    yield base, users
    for user in users:
        subprocess.run(["userdel", user], capture_output=True)


def agent(base: Path, users: list[str], *wrapper: str, **env: str) -> str:
    done = subprocess.run(
        [*wrapper, sys.executable, "-c", SCRIPT, str(base), *users],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def errors(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("ERROR")]


def test_a_process_that_may_not_create_them_says_so_once_with_the_fix(slurm, homes):
    base, users = homes
    output = agent(base, users, *NO_CAPABILITIES)
    (refused, diagnosed) = errors(output)
    assert refused.startswith("ERROR home directories are on but this process cannot create them")
    assert f"{base} is not writable by this process (uid 0)" in refused
    assert homedirs.FIX in refused and "enable_user_homedir_account_creation: false" in refused
    assert "homedirs.conf" in homedirs.FIX
    assert diagnosed.startswith(f"ERROR home directories: on; they cannot be created in {base}")
    assert "diagnostics: False" in output
    assert list(base.iterdir()) == []  # the helper never ran (it would leave root's directory)


def test_a_read_only_home_is_recognised(slurm, homes):
    base, users = homes
    os.chown(base, 0, 0)
    mounted = f'mount --bind {base} {base} && mount -o remount,bind,ro {base} && exec "$@"'
    output = agent(base, users, "unshare", "--mount", "sh", "-c", mounted, "sh")
    (refused, diagnosed) = errors(output)
    assert f"{base} is read-only for this process (the unit's ProtectHome=yes?)" in refused
    assert homedirs.FIX in refused and "read-only" in diagnosed
    assert list(base.iterdir()) == []


def test_a_process_that_may_create_them_does_and_says_so(slurm, homes):
    base, users = homes
    os.chown(base, 0, 0)
    # Run as systemd runs the service (INVOCATION_ID): this process is the one that matters.
    output = agent(base, users, INVOCATION_ID="0" * 32)
    assert errors(output) == []
    assert f"INFO home directories: on; this process can create them in {base}" in output
    assert "diagnostics: True" in output
    assert sorted(p.name for p in base.iterdir()) == sorted(users)


def test_a_check_outside_the_service_tells_what_the_packaged_unit_allows(tmp_path, monkeypatch):
    unit, drop_ins = tmp_path / "waldur-site-agent.service", tmp_path / "drop-ins"
    monkeypatch.setattr(homedirs, "UNIT", str(unit))
    monkeypatch.setattr(homedirs, "UNIT_DROP_INS", str(drop_ins))
    assert homedirs.packaged_unit_refuses() is False  # no packaged unit here
    unit.write_text("[Service]\nProtectHome=yes\n")
    assert homedirs.packaged_unit_refuses() is True
    drop_ins.mkdir()
    (drop_ins / "homedirs.conf").write_text(Path(PACKAGED_DROP_IN).read_text())
    assert homedirs.packaged_unit_refuses() is False
