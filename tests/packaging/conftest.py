"""Fixtures of the packaging tests: the .deb installed on this machine.

These tests change the machine (a package in /opt, /etc and /var, a system user), so they need
root; CI's machine is disposable and root. The packages come from `built`
(tests/packaging/build_fixture.py).
"""

from __future__ import annotations

import fcntl
import shutil
from collections.abc import Iterator

import pytest

from tests.packaging.build_fixture import Built, run

PACKAGE = "waldur-site-agent"
USER = "waldur-site-agent"


def purge() -> None:
    run("dpkg", "--purge", PACKAGE, check=False)


def forget_operator_files() -> None:
    """What purge rightly keeps (the operator's config, the system user): gone between runs."""
    shutil.rmtree("/etc/waldur-site-agent", ignore_errors=True)
    run("userdel", USER, check=False)
    run("groupdel", USER, check=False)


# The package, its user and its files are the machine's, not this session's: a second session
# installing or purging meanwhile would pull them from under this one's agent.
MACHINE_LOCK = "/tmp/waldur-site-agent-packaging.lock"


@pytest.fixture(scope="module")
def installed(built: Built) -> Iterator[Built]:
    with open(MACHINE_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        purge()
        forget_operator_files()
        run("dpkg", "-i", str(built.deb))
        yield built
        purge()
        forget_operator_files()
