"""The session-scoped `ldap` fixture: a private slapd from `tests/services/ldap`.

Tests using it are marked `@pytest.mark.ldap`. The fixture runs `tests/services/ldap up --lease
PID` (installs slapd and ldap-utils if needed, ~15 s on a fresh machine; ~0.2 s to start;
~0.05 s when it runs) and stops slapd at the end only if this session started it and no other
live session holds a lease. Tests read the directory with `ldapsearch`, not with the code under
test. Entries persist between sessions, so tests use names unique to their run.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.ci import unavailable

SCRIPT = Path(__file__).resolve().parent / "ldap"
PREFIX = "WALDUR_TEST_LDAP_"


@dataclass
class LdapServer:
    env: dict[str, str]

    @property
    def uri(self) -> str:
        return self.env[PREFIX + "URI"]

    @property
    def base_dn(self) -> str:
        return self.env[PREFIX + "BASE_DN"]

    @property
    def bind_dn(self) -> str:
        return self.env[PREFIX + "BIND_DN"]

    @property
    def password(self) -> str:
        return Path(self.env[PREFIX + "PASSWORD_FILE"]).read_text().strip()

    def settings(self, **extra: object) -> dict[str, object]:
        """`backend_settings.ldap` for this server, OpenLDAP's object classes for groups."""
        return {
            "uri": self.uri,
            "bind_dn": self.bind_dn,
            "bind_password": self.password,
            "base_dn": self.base_dn,
            "user_group_object_classes": ["posixGroup", "top"],
            **extra,
        }

    def search(self, base: str, query: str, *attributes: str) -> list[dict[str, list[str]]]:
        """`ldapsearch` as the admin: each entry's attributes (`dn` included) as lists."""
        done = subprocess.run(
            [
                "ldapsearch", "-x", "-LLL", "-o", "ldif-wrap=no", "-H", self.uri,
                "-D", self.bind_dn, "-y", self.env[PREFIX + "PASSWORD_FILE"],
                "-b", f"{base},{self.base_dn}", query, *attributes,
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )  # fmt: skip
        if done.returncode not in (0, 32):  # 32: no such object
            raise RuntimeError(f"ldapsearch failed ({done.returncode}): {done.stderr}")
        entries = []
        for block in done.stdout.strip().split("\n\n"):
            entry: dict[str, list[str]] = {}
            for line in block.splitlines():
                key, _, value = line.partition(": ")
                entry.setdefault(key.rstrip(":"), []).append(value)
            if entry:
                entries.append(entry)
        return entries

    def group(self, name: str, ou: str = "ou=Groups") -> dict[str, list[str]] | None:
        found = self.search(ou, f"(cn={name})", "objectClass", "gidNumber", "memberUid", "member")
        return found[0] if found else None

    def user(self, uid: str, ou: str = "ou=People") -> dict[str, list[str]] | None:
        found = self.search(ou, f"(uid={uid})", "*", "userPassword")
        return found[0] if found else None

    def add(self, ldif: str) -> None:
        subprocess.run(
            [
                "ldapadd", "-x", "-H", self.uri, "-D", self.bind_dn,
                "-y", self.env[PREFIX + "PASSWORD_FILE"],
            ],
            input=ldif,
            check=True,
            capture_output=True,
            text=True,
        )  # fmt: skip

    def delete(self, *dns: str) -> None:
        """Entries and everything under them."""
        subprocess.run(
            [
                "ldapdelete", "-x", "-c", "-r", "-H", self.uri, "-D", self.bind_dn,
                "-y", self.env[PREFIX + "PASSWORD_FILE"], *dns,
            ],
            capture_output=True,
        )  # fmt: skip

    @contextlib.contextmanager
    def units(self, suffix: str) -> Iterator[dict[str, str]]:
        """`ou=People-SUFFIX` and `ou=Groups-SUFFIX` of one test, removed with what they hold;
        yields the `people_ou`/`groups_ou` settings naming them."""
        ous = {"people_ou": f"ou=People-{suffix}", "groups_ou": f"ou=Groups-{suffix}"}
        self.add(
            "".join(
                f"dn: {ou},{self.base_dn}\nobjectClass: organizationalUnit\n"
                f"ou: {ou.split('=')[1]}\n\n"
                for ou in ous.values()
            )
        )
        try:
            yield ous
        finally:
            self.delete(*(f"{ou},{self.base_dn}" for ou in ous.values()))


@pytest.fixture(scope="session")
def ldap():
    lease = str(os.getpid())
    try:
        run = subprocess.run(
            [str(SCRIPT), "up", "--lease", lease], capture_output=True, text=True, timeout=600
        )
        failure = "" if run.returncode == 0 else f"exit {run.returncode}"
        output = f"{run.stdout}{run.stderr}"
    except subprocess.TimeoutExpired as exc:
        failure, output = "timed out", str(exc.stdout or "") + str(exc.stderr or "")
    if failure:
        message = f"tests/services/ldap up failed ({failure}):\n{output}"
        unavailable(message)
    env = {}
    for line in run.stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.startswith(PREFIX):
            env[key] = value
    try:
        yield LdapServer(env)
    finally:
        if env.get(PREFIX + "STARTED") == "1":
            subprocess.run([str(SCRIPT), "down", "--if-unleased", lease], timeout=120)
        else:
            Path(env[PREFIX + "DIR"], "leases", lease).unlink(missing_ok=True)
