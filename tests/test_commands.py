"""`execute_command`: argv only, a timeout that kills the whole process group, typed errors,
masked and timed logs; `validate_name` refusing hostile names before anything runs.

Some tests build an argv for `sh -c` themselves: that is the test choosing to run a shell script
(to spawn grandchildren, write to stderr, ...), not the agent running one.
"""

import contextlib
import logging
import os
import re
import signal
import time
from pathlib import Path

import pytest
from fixture_plugin.client import MemoryClient, MemoryStore

from waldur_site_agent_actors.backends import commands
from waldur_site_agent_actors.backends.commands import SAFE_NAME, execute_command, validate_name
from waldur_site_agent_actors.backends.exceptions import (
    BackendError,
    CommandError,
    CommandNotFound,
    CommandTimeout,
    InvalidNameError,
)

LOGGER = "backends.commands"


def group_alive(pgid: int) -> list[int]:
    """Members of the process group that are still running.

    A killed process whose parent died stays a zombie until PID 1 reaps it, and a zombie still
    counts for `killpg(pgid, 0)`; in a container PID 1 may never reap. A zombie runs nothing, so
    only non-zombie members count as alive.
    """
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return []
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, _ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
        if int(pgrp) == pgid and state not in ("Z", "X"):
            alive.append(int(entry.name))
    return alive


def wait_until_dead(pgid: int, seconds: float = 2.0) -> list[int]:
    deadline = time.monotonic() + seconds
    while (alive := group_alive(pgid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive


def pids_in(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()]


# -- success, failure, absence -------------------------------------------------------------------


def test_returns_stdout():
    assert execute_command(["echo", "hello", "world"]) == "hello world\n"


def test_arguments_are_never_interpreted_by_a_shell(tmp_path):
    marker = tmp_path / "pwned"
    out = execute_command(["echo", f"x; touch {marker}", "$(id)", "`id`", "a|b"])
    assert out == f"x; touch {marker} $(id) `id` a|b\n"
    assert not marker.exists()


def test_non_string_arguments_are_converted():
    assert execute_command(["echo", 42, Path("/tmp")]) == "42 /tmp\n"  # type: ignore[list-item]


def test_input_text_and_env_reach_the_command():
    assert execute_command(["cat"], input_text="from stdin") == "from stdin"
    out = execute_command(["sh", "-c", 'printf %s "$AGENT_TEST"'], env={"AGENT_TEST": "v"})
    assert out == "v"


def test_stdin_is_closed_when_no_input_is_given():
    # A command that reads stdin must not hang waiting on the agent's terminal.
    assert execute_command(["cat"], timeout=5) == ""


def test_nonzero_exit_raises_command_error_with_stderr_and_exit_code():
    with pytest.raises(CommandError) as caught:
        execute_command(["sh", "-c", "echo partial; echo 'no such account' >&2; exit 3"])
    error = caught.value
    assert isinstance(error, BackendError)
    assert error.returncode == 3
    assert error.stderr == "no such account\n"
    assert error.stdout == "partial\n"
    assert error.argv[0] == "sh"
    assert str(error) == "sh exited with 3: no such account"


def test_command_error_without_stderr_shows_stdout_or_says_so():
    with pytest.raises(CommandError, match="exited with 1: only stdout"):
        execute_command(["sh", "-c", "echo only stdout; exit 1"])
    with pytest.raises(CommandError, match="exited with 1: no output"):
        execute_command(["false"])


def test_missing_binary_raises_command_not_found():
    with pytest.raises(CommandNotFound, match="command not found: sacctmgr-does-not-exist"):
        execute_command(["sacctmgr-does-not-exist", "list", "account"])
    with pytest.raises(CommandNotFound):
        execute_command(["/nonexistent/bin/sacctmgr"])


def test_a_file_that_is_not_executable_is_a_command_error(tmp_path):
    script = tmp_path / "tool"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    with pytest.raises(CommandError) as caught:
        execute_command([str(script)])
    assert caught.value.returncode == 126


def test_a_file_the_kernel_cannot_execute_is_a_command_error(tmp_path):
    script = tmp_path / "no-shebang"
    script.write_text("echo hi\n")
    script.chmod(0o755)
    with pytest.raises(CommandError, match="Exec format error") as caught:
        execute_command([str(script)])
    assert caught.value.returncode == 126


def test_a_path_through_a_file_is_command_not_found(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(CommandNotFound):
        execute_command([str(tmp_path / "file" / "sacctmgr")])


def test_empty_argv_is_refused():
    with pytest.raises(ValueError, match="empty command"):
        execute_command([])


# -- timeouts ------------------------------------------------------------------------------------


def test_timeout_kills_the_command_and_all_its_grandchildren(tmp_path):
    pids = tmp_path / "pids"
    script = f"echo $$ > {pids}; sleep 60 & echo $! >> {pids}; sleep 60 & echo $! >> {pids}; wait"
    started = time.monotonic()
    with pytest.raises(CommandTimeout) as caught:
        execute_command(["sh", "-c", script], timeout=1)
    elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 3.0
    assert caught.value.timeout == 1
    assert str(caught.value) == "sh did not finish within 1 s and was killed"
    shell, *grandchildren = pids_in(pids)
    assert len(grandchildren) == 2
    # start_new_session: the command leads its own group, so its pid is the group id.
    assert wait_until_dead(shell) == []
    for pid in grandchildren:
        with pytest.raises(ProcessLookupError):
            _raise_if_running(pid)


def _raise_if_running(pid: int) -> None:
    """ProcessLookupError unless `pid` is a running (non-zombie) process."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        raise ProcessLookupError(pid) from None
    if state in ("Z", "X"):
        raise ProcessLookupError(pid)


def test_timeout_does_not_hang_on_a_grandchild_that_left_the_group(tmp_path, monkeypatch):
    """A grandchild in its own session survives killpg and holds the pipes: the wait is bounded."""
    monkeypatch.setattr(commands, "_REAP_SECONDS", 0.5)
    pids = tmp_path / "pids"
    script = f"setsid sleep 60 & echo $! > {pids}; wait"
    started = time.monotonic()
    try:
        with pytest.raises(CommandTimeout):
            execute_command(["sh", "-c", script], timeout=0.5)
        assert time.monotonic() - started < 3.0
    finally:
        for pid in pids_in(pids):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_a_command_that_ends_in_time_is_not_killed():
    assert execute_command(["sh", "-c", "sleep 0.1; echo done"], timeout=5) == "done\n"


def test_client_uses_its_own_timeout_and_mask(caplog):
    class SlowClient(MemoryClient):
        command_timeout = 0.3
        mask = staticmethod(lambda text: text.replace("s3cr3t", "***"))

    client = SlowClient(MemoryStore())
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    with pytest.raises(CommandTimeout) as caught:
        client.execute_command(["sh", "-c", "sleep 5", "sh", "--token=s3cr3t"])
    assert caught.value.timeout == 0.3
    assert "sleep 5 sh --token=***" in caplog.text
    assert "s3cr3t" not in caplog.text


# -- logging -------------------------------------------------------------------------------------


def hide(text: str) -> str:
    return re.sub(r"(--password=)\S+", r"\1***", text).replace("hunter2", "***")


def test_success_is_logged_at_debug_with_duration_and_masked_argv(caplog):
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    execute_command(["echo", "--password=hunter2", "list"], mask=hide)
    (record,) = [r for r in caplog.records if r.name == LOGGER]
    assert record.levelno == logging.DEBUG
    assert re.fullmatch(r"command ok \(\d+\.\d{3} s\): echo --password=\*\*\* list", record.message)
    assert "hunter2" not in caplog.text


def test_silent_success_logs_nothing(caplog):
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    execute_command(["true"], silent=True)
    assert [r for r in caplog.records if r.name == LOGGER] == []


def test_failure_is_logged_with_exit_code_duration_and_masked_stderr(caplog):
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    argv = ["sh", "-c", 'echo "login failed for $1" >&2; exit 2', "sh", "--password=hunter2"]
    with pytest.raises(CommandError) as caught:
        execute_command(argv, mask=hide)
    (record,) = [r for r in caplog.records if r.name == LOGGER]
    assert record.levelno == logging.WARNING
    assert re.match(r"command failed \(exit 2, \d+\.\d{3} s\): sh -c ", record.message)
    assert record.message.endswith("sh --password=***: login failed for --password=***")
    assert "hunter2" not in caplog.text
    # The error's text reaches Waldur users: it is masked too.
    assert "hunter2" not in str(caught.value)
    assert "hunter2" not in caught.value.stderr
    assert caught.value.argv[-1] == "--password=***"


def test_timeout_and_not_found_errors_carry_the_masked_argv():
    with pytest.raises(CommandTimeout) as timed_out:
        execute_command(["sh", "-c", "sleep 5", "sh", "--password=hunter2"], timeout=0.2, mask=hide)
    assert timed_out.value.argv == ["sh", "-c", "sleep 5", "sh", "--password=***"]
    with pytest.raises(CommandNotFound) as missing:
        execute_command(["no-such-binary-x", "--password=hunter2"], mask=hide)
    assert missing.value.argv == ["no-such-binary-x", "--password=***"]


def test_timeout_is_logged_masked(caplog):
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    with pytest.raises(CommandTimeout):
        execute_command(["sh", "-c", "sleep 5", "sh", "--password=hunter2"], timeout=0.2, mask=hide)
    expected = "command timed out after 0.2 s and was killed: sh -c sleep 5 sh --password=***"
    assert expected in caplog.text
    assert "hunter2" not in caplog.text


# -- names ---------------------------------------------------------------------------------------

HOSTILE = [
    "x; rm -rf /",
    "a;b",
    "$(id)",
    "`id`",
    "a" * 200,
    "ü",
    "müller",
    "",
    "-rf",
    "--help",
    ".hidden",
    "_under",
    "a b",
    "a|b",
    "a&b",
    "a>b",
    "a/b",
    "../etc",
    "a\nb",
    "abc\n",
    "a\x00b",
    "a=b",
    "a,b",
    "'quoted'",
    '"quoted"',
    "name*",
]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_are_refused(name):
    with pytest.raises(InvalidNameError):
        validate_name(name)


@pytest.mark.parametrize("name", ["hpc_alloc-1", "A", "0day", "proj.v2", "x" * 64])
def test_ordinary_names_pass_unchanged(name):
    assert validate_name(name) == name


def test_length_limit_and_messages():
    with pytest.raises(InvalidNameError, match=r"account name 'aaaa.*longer than 64"):
        validate_name("a" * 65, what="account name")
    with pytest.raises(InvalidNameError) as caught:
        validate_name("a" * 200)
    assert "a" * 21 not in str(caught.value)  # a long name is not echoed whole
    with pytest.raises(InvalidNameError, match="username is empty"):
        validate_name("", what="username")
    with pytest.raises(InvalidNameError, match=r"'a;b' contains characters that are not allowed"):
        validate_name("a;b")
    assert validate_name("a" * 100, max_length=100) == "a" * 100


def test_non_strings_are_refused():
    for value in (None, 5, b"abc", ["a"]):
        with pytest.raises(InvalidNameError):
            validate_name(value)  # type: ignore[arg-type]


def test_a_backend_narrows_the_pattern():
    partition = re.compile(r"[A-Za-z0-9_-]+")
    assert validate_name("gpu_a100", pattern=partition) == "gpu_a100"
    with pytest.raises(InvalidNameError):
        validate_name("gpu.a100", pattern=partition)
    assert SAFE_NAME.fullmatch("gpu.a100")


@pytest.mark.parametrize("name", ["x; rm -rf /", "$(id)", "-rf", "a" * 200, "ü"])
def test_hostile_names_are_refused_before_anything_runs(name, monkeypatch):
    """A client validates before building a command: nothing is spawned, nothing is stored."""
    spawned = []
    monkeypatch.setattr(commands.subprocess, "Popen", lambda *a, **k: spawned.append(a))

    class CliClient(MemoryClient):
        def create_resource(self, name, description, organization, parent_name=None):
            validate_name(name, what="account name")
            self.execute_command(["sacctmgr", "add", "account", name])
            return super().create_resource(name, description, organization, parent_name)

    client = CliClient(MemoryStore())
    with pytest.raises(InvalidNameError):
        client.create_resource(name, "d", "o")
    with pytest.raises(InvalidNameError):
        client.create_association(name, "acc")
    assert spawned == []
    assert client.list_resources() == []
