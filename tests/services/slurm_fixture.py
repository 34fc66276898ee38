"""The session-scoped `slurm` fixture: a real single-node cluster from `tests/services/slurm`;
`slurm_next`: the same cluster with Debian 13's Slurm 24.11 in a chroot (`tests/services/
slurm-next`), whose slurmrestd can manage accounts (Debian 12's cannot).

Tests using it are marked `@pytest.mark.slurm` (select them with `-m slurm`). The fixture runs
`tests/services/slurm up --lease PID` (installs the packages if needed, ~60 s the first time on a
fresh machine; ~1-3 s to start a stopped cluster; ~0.05 s when it already runs), exports
`SLURM_CONF` into this process's environment so agent processes started by tests talk to the
cluster, and at the end stops the cluster only if this session started it and no other live
session holds a lease. A cluster that was already running is left running.

Accounting data persists between sessions (the database lives in the script's private
directory), so tests use names unique to their run.

When the script fails, the fixture fails with its output under CI (`CI` set to a true value);
locally it skips with that output as the reason.
"""

from __future__ import annotations

import os
import pwd
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.ci import unavailable

SCRIPT = Path(__file__).resolve().parent / "slurm"
NEXT_SCRIPT = Path(__file__).resolve().parent / "slurm-next"
PREFIX = "WALDUR_TEST_SLURM_"
CONTROLLER_LAG = 60.0  # seconds slurmctld may take to see what sacctmgr changed


def parse_env(text: str) -> dict[str, str]:
    env = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and (key.startswith(PREFIX) or key == "SLURM_CONF"):
            env[key] = value
    return env


@dataclass
class SlurmCluster:
    """The running test cluster and the few things tests do to it directly."""

    env: dict[str, str]
    started_here: bool = False
    created_users: list[str] = field(default_factory=list)

    @property
    def conf(self) -> str:
        """slurm.conf; in a chroot, its path there (the wrappers in `bin_path` pass it on)."""
        return self.env.get("SLURM_CONF") or self.env[PREFIX + "CHROOT_CONF"]

    @property
    def cluster(self) -> str:
        return self.env[PREFIX + "CLUSTER"]

    @property
    def bin_path(self) -> str:
        return self.env.get(PREFIX + "BIN", "/usr/bin")

    @property
    def root(self) -> str | None:
        """The chroot the cluster runs in (`slurm_next`), None for the host's cluster."""
        return self.env.get(PREFIX + "ROOT")

    @property
    def rest_url(self) -> str:
        return self.env[PREFIX + "REST_URL"]

    @property
    def rest_socket(self) -> str:
        return self.env[PREFIX + "REST_SOCKET"]

    @property
    def rest_token_file(self) -> str:
        return self.env[PREFIX + "REST_TOKEN_FILE"]

    def rest_api(self, **extra: str) -> dict[str, str]:
        """`backend_settings.rest_api` for this cluster's slurmrestd, as its admin."""
        return {
            "url": self.rest_url,
            "username": self.env[PREFIX + "USER"],
            "token_file": self.rest_token_file,
            **extra,
        }

    def run(self, *argv: str, user: str | None = None, check: bool = True) -> str:
        """A SLURM command against this cluster, as `user` when given (root runs it via runuser)."""
        command = [os.path.join(self.bin_path, argv[0]), *argv[1:]] if self.root else list(argv)
        if user and user != pwd.getpwuid(os.getuid()).pw_name:
            conf = self.env.get(PREFIX + "CHROOT_CONF", self.conf)
            command = ["runuser", "-u", user, "--", "env", f"SLURM_CONF={conf}", *argv]
            if self.root:
                command = ["chroot", self.root, *command]
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "SLURM_CONF": self.conf},
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr}")
        return done.stdout

    def sacctmgr(self, *args: str) -> list[list[str]]:
        out = self.run("sacctmgr", "--parsable2", "--noheader", "--immediate", *args)
        return [line.split("|") for line in out.splitlines() if line.strip()]

    def associations(self, account: str) -> list[dict[str, str]]:
        """`sacctmgr show assoc` rows of one account: account, user, parent, qos, limits."""
        keys = ["account", "user", "parent", "qos", "GrpTRESMins", "MaxTRESMins", "GrpTRES"]
        rows = self.sacctmgr(
            "show",
            "association",
            "where",
            f"account={account}",
            "format=Account,User,ParentName,QOS,GrpTRESMins,MaxTRESMins,GrpTRES",
        )
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def account(self, name: str) -> dict[str, str] | None:
        """The account's own association (no user), or None when it does not exist."""
        return next((r for r in self.associations(name) if not r["user"]), None)

    def users(self, account: str) -> set[str]:
        return {r["user"] for r in self.associations(account) if r["user"]}

    def ensure_qos(self, *names: str) -> None:
        existing = {row[0] for row in self.sacctmgr("show", "qos", "format=Name")}
        for name in names:
            if name not in existing:
                self.sacctmgr("add", "qos", name)

    def ensure_unix_user(self, name: str) -> None:
        """Jobs run as Unix users, so a user submitting jobs must exist (needs root to create);
        in the chroot too when the cluster runs in one."""
        inside = ["chroot", self.root] if self.root else []
        known = subprocess.run([*inside, "getent", "passwd", name], capture_output=True)
        if known.returncode == 0:
            return
        if os.getuid() != 0:
            pytest.skip(f"Unix user {name} is missing and only root can create it")
        subprocess.run(
            [*inside, "useradd", "--no-create-home", "--shell", "/bin/sh", name],
            check=True,
            capture_output=True,
        )
        self.created_users.append(name)

    def submit(
        self,
        account: str,
        user: str,
        seconds: int,
        cpus: int = 1,
        gpus: int = 0,
        timeout: float = CONTROLLER_LAG,
        partition: str | None = None,
    ) -> str:
        """`sbatch` a sleeping job as `user` under `account`; returns its job id.

        slurmctld learns new associations from slurmdbd asynchronously (slower the more
        associations the database holds), so "Invalid account" right after the account was
        added is retried until `timeout`.
        """
        self.ensure_unix_user(user)
        args = [
            "sbatch",
            "--parsable",
            f"--account={account}",
            f"--ntasks={cpus}",
            "--output=/dev/null",
            "--chdir=/tmp",
        ]
        if gpus:
            args.append(f"--gres=gpu:{gpus}")
        if partition:
            args.append(f"--partition={partition}")
        deadline = time.monotonic() + timeout
        while True:
            try:
                job = self.run(*args, f"--wrap=sleep {seconds}", user=user).strip()
            except RuntimeError as exc:
                if "Invalid account" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
            else:
                return job.split(";")[0]

    def wait_controller_knows(self, account: str, timeout: float = CONTROLLER_LAG) -> None:
        """Wait until slurmctld holds `account`'s own association.

        slurmctld applies slurmdbd's updates as its RPC threads get to them: on a loaded machine
        a modification can arrive before the association it modifies, and slurmctld drops it
        ("SLURMDB_MODIFY_ASSOC: assoc N not found") for good. Tests that change an association
        right after creating it and then check slurmctld's enforcement wait for this first.
        """
        deadline = time.monotonic() + timeout
        own = f"Account={account} UserName= "
        while True:
            seen = self.run(
                "scontrol", "show", "assoc_mgr", f"accounts={account}", "flags=assoc", check=False
            )
            if own in seen:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"slurmctld never learned account {account}:\n{seen}")
            time.sleep(0.5)

    def refused(
        self,
        account: str,
        user: str,
        timeout: float = CONTROLLER_LAG,
        partition: str | None = None,
    ) -> str:
        """The error of a submission slurmctld refuses, once a limit set in slurmdbd reaches it.

        Jobs it still accepts meanwhile are cancelled; no refusal before `timeout` fails.
        """
        deadline = time.monotonic() + timeout
        outcomes: list[str] = []
        while time.monotonic() < deadline:
            try:
                job = self.submit(account, user, seconds=300, timeout=0, partition=partition)
            except RuntimeError as exc:
                if "Invalid account" not in str(exc) or partition:
                    return str(exc)
                outcomes.append("Invalid account")
            else:
                self.run("scancel", job)
                outcomes.append(f"accepted job {job}")
            time.sleep(0.5)
        seen = self.run(
            "scontrol", "show", "assoc_mgr", f"accounts={account}", "flags=assoc", check=False
        )
        raise AssertionError(
            f"slurmctld never refused jobs of {user} under {account} within {timeout:.0f} s; "
            f"submissions: {outcomes[:3]} ... {outcomes[-3:]} ({len(outcomes)} in all); "
            f"slurmctld's associations of the account:\n{seen}"
        )

    def job_state(self, job_id: str) -> str:
        out = self.run("sacct", "-n", "-X", "-P", "-j", job_id, "--format=State")
        return out.strip().split("\n")[0].split(" ")[0] if out.strip() else ""

    def wait_job(self, job_id: str, states: tuple[str, ...], timeout: float = 60) -> str:
        """Until the job is in one of `states` and accounted.

        slurmdbd briefly holds a fresh record without its eligible time, and sacct's time
        window (what the agent reads usage with) leaves such records out until it arrives.
        """
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            out = self.run("sacct", "-n", "-X", "-P", "-j", job_id, "--format=State,Eligible")
            state, _, eligible = out.strip().split("\n")[0].partition("|")
            state = state.split(" ")[0]
            if state in states and eligible not in ("", "Unknown"):
                return state
            time.sleep(0.2)
        raise AssertionError(f"job {job_id} not in {states} after {timeout} s: {state}")

    def cleanup(self) -> None:
        inside = ["chroot", self.root] if self.root else []
        for name in self.created_users:
            subprocess.run([*inside, "userdel", name], capture_output=True)


def start_cluster(script: Path) -> SlurmCluster:
    """`script up` with this process's lease; fails (CI) or skips (locally) with its output."""
    try:
        run = subprocess.run(
            [str(script), "up", "--lease", str(os.getpid())],
            capture_output=True,
            text=True,
            timeout=900,
        )
        failure = "" if run.returncode == 0 else f"exit {run.returncode}"
        output = f"{run.stdout}{run.stderr}"
    except subprocess.TimeoutExpired as exc:
        failure, output = "timed out", str(exc.stdout or "") + str(exc.stderr or "")
    if failure:
        message = f"tests/services/{script.name} up failed ({failure}):\n{output}"
        unavailable(message)
    env = parse_env(run.stdout)
    return SlurmCluster(env=env, started_here=env.get(PREFIX + "STARTED") == "1")


def stop_cluster(script: Path, cluster: SlurmCluster) -> None:
    cluster.cleanup()
    lease = str(os.getpid())
    if cluster.started_here:
        subprocess.run(
            [str(script), "down", "--if-unleased", lease], capture_output=True, timeout=300
        )
    else:
        lease_file = Path(cluster.env.get(PREFIX + "DIR", "/nonexistent")) / "leases" / lease
        lease_file.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def slurm():
    cluster = start_cluster(SCRIPT)
    previous = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = cluster.conf  # agent processes started by tests inherit it
    try:
        yield cluster
    finally:
        if previous is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = previous
        stop_cluster(SCRIPT, cluster)


@pytest.fixture(scope="session")
def slurm_next():
    """Slurm 24.11 in a chroot: its commands through the wrappers in `bin_path`."""
    if os.getuid() != 0:
        unavailable("the Slurm 24.11 chroot needs root (debootstrap, mount, chroot)")
    cluster = start_cluster(NEXT_SCRIPT)
    try:
        yield cluster
    finally:
        stop_cluster(NEXT_SCRIPT, cluster)
