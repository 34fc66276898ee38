"""`Directory`: POSIX users and groups in an LDAP server, through `ldap3`.

Names reach the server only as escaped RDN values and filter values (`escape_rdn`,
`escape_filter_chars`), never spliced into a DN or filter raw; callers check them against their
own naming rules first. One bound connection per instance, opened on first use and opened again
once when the server dropped it; each plugin instance (one actor thread) has its own.
"""

from __future__ import annotations

import logging
import secrets
import string
from collections.abc import Callable
from typing import Any, TypeVar

import ldap3
from ldap3.core.exceptions import LDAPException, LDAPSocketOpenError, LDAPSocketSendError
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn

from waldur_site_agent_actors.backends.exceptions import BackendError
from waldur_site_agent_actors.backends.ldap.settings import LdapSettings

log = logging.getLogger("backends.ldap")
T = TypeVar("T")
_DROPPED = (LDAPSocketOpenError, LDAPSocketSendError)
USER_ATTRIBUTES = ["uid", "uidNumber", "gidNumber", "cn", "mail"]


class LdapError(BackendError):
    """The directory refused or failed an operation."""


class Directory:
    def __init__(self, settings: LdapSettings, timeout: int = 30) -> None:
        self.settings = settings
        self.timeout = timeout
        self._connection: ldap3.Connection | None = None

    # -- connection -----------------------------------------------------------------------------

    def _connect(self) -> ldap3.Connection:
        s = self.settings
        try:
            server = ldap3.Server(s.uri, connect_timeout=self.timeout)
            connection = ldap3.Connection(
                server,
                user=s.bind_dn,
                password=s.bind_password,
                receive_timeout=self.timeout,
                raise_exceptions=False,
            )
            connection.open()
            if s.use_starttls and not connection.start_tls():
                raise LdapError(f"STARTTLS with {s.uri} failed: {connection.result}")
            if not connection.bind():
                raise LdapError(f"bind to {s.uri} as {s.bind_dn} failed: {_describe(connection)}")
        except LDAPException as exc:
            raise LdapError(f"cannot reach the LDAP server {s.uri}: {exc}") from exc
        return connection

    def _run(self, what: str, operation: Callable[[ldap3.Connection], T]) -> T:
        """`operation` on the bound connection; once more on a fresh one if it was dropped."""
        for attempt in (1, 2):
            if self._connection is None or self._connection.closed:
                self._connection = self._connect()
            try:
                return operation(self._connection)
            except _DROPPED as exc:
                self.close()
                if attempt == 2:
                    raise LdapError(f"{what}: {exc}") from exc
            except LDAPException as exc:
                raise LdapError(f"{what}: {exc}") from exc
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._connection is not None:
            self._connection.unbind()
            self._connection = None

    def ping(self) -> None:
        self._run("LDAP ping", lambda c: c.search(self.settings.base_dn, "(objectClass=*)", "BASE"))

    # -- names ----------------------------------------------------------------------------------

    def user_dn(self, username: str) -> str:
        return f"uid={escape_rdn(username)},{self.settings.people_dn}"

    def group_dn(self, name: str) -> str:
        return f"cn={escape_rdn(name)},{self.settings.groups_dn}"

    # -- reads ----------------------------------------------------------------------------------

    def _search(self, base: str, query: str, attributes: list[str]) -> list[dict[str, Any]]:
        def search(c: ldap3.Connection) -> list[dict[str, Any]]:
            c.search(base, query, ldap3.SUBTREE, attributes=attributes)
            if c.result["result"] not in (0, 32):  # 32: noSuchObject (the OU is missing)
                raise LdapError(f"search {query} under {base}: {_describe(c)}")
            return [dict(entry["attributes"]) for entry in c.response or [] if entry.get("dn")]

        return self._run(f"search {query}", search)

    def user(self, username: str) -> dict[str, Any] | None:
        found = self._search(
            self.settings.people_dn, f"(uid={escape_filter_chars(username)})", USER_ATTRIBUTES
        )
        return found[0] if found else None

    def user_by_email(self, email: str) -> dict[str, Any] | None:
        found = self._search(
            self.settings.people_dn, f"(mail={escape_filter_chars(email)})", USER_ATTRIBUTES
        )
        return found[0] if found else None

    def group(self, name: str) -> dict[str, Any] | None:
        found = self._search(
            self.settings.groups_dn,
            f"(cn={escape_filter_chars(name)})",
            ["cn", "gidNumber", "memberUid", "member"],
        )
        return found[0] if found else None

    def group_gid(self, name: str) -> int | None:
        """The group's gidNumber (for Lustre project quotas), None when there is no such group."""
        entry = self.group(name)
        return _int(entry.get("gidNumber")) if entry else None

    def members(self, name: str, attribute: str = "memberUid") -> set[str]:
        entry = self.group(name)
        return {str(v) for v in (entry or {}).get(attribute) or []}

    def _free_id(self, attribute: str, base: str, start: int, end: int) -> int:
        used = {
            value
            for entry in self._search(base, f"({attribute}=*)", [attribute])
            if (value := _int(entry.get(attribute))) is not None
        }
        for candidate in range(start, end + 1):
            if candidate not in used:
                return candidate
        raise LdapError(f"no free {attribute} left in {start}-{end}")

    # -- writes ---------------------------------------------------------------------------------

    def _add(self, dn: str, attributes: dict[str, Any]) -> None:
        def add(c: ldap3.Connection) -> None:
            if not c.add(dn, attributes=attributes):
                raise LdapError(f"cannot add {dn}: {_describe(c)}")

        self._run(f"add {dn}", add)

    def _delete(self, dn: str) -> bool:
        """False when there was nothing to delete."""

        def delete(c: ldap3.Connection) -> bool:
            if c.delete(dn):
                return True
            if c.result["result"] == 32:  # noSuchObject
                return False
            raise LdapError(f"cannot delete {dn}: {_describe(c)}")

        return self._run(f"delete {dn}", delete)

    def _modify(self, dn: str, changes: dict[str, Any], harmless: int | None = None) -> bool:
        """False when the server answered with the `harmless` result code (already so)."""

        def modify(c: ldap3.Connection) -> bool:
            if c.modify(dn, changes):
                return True
            if harmless is not None and c.result["result"] == harmless:
                return False
            raise LdapError(f"cannot modify {dn}: {_describe(c)}")

        return self._run(f"modify {dn}", modify)

    def ensure_group(self, name: str, object_classes: list[str]) -> int:
        """The group's gid; the group is created with the next free gid when it is missing."""
        existing = self.group_gid(name)
        if existing is not None:
            return existing
        s = self.settings
        gid = self._free_id("gidNumber", s.groups_dn, s.gid_range_start, s.gid_range_end)
        self._add(
            self.group_dn(name),
            {"objectClass": object_classes, "cn": name, "gidNumber": gid},
        )
        log.info("created LDAP group %s with gid %d", name, gid)
        return gid

    def delete_group(self, name: str) -> bool:
        deleted = self._delete(self.group_dn(name))
        if deleted:
            log.info("deleted LDAP group %s", name)
        return deleted

    def add_member(self, group: str, username: str, attribute: str = "memberUid") -> bool:
        """False when the user already was a member (attributeOrValueExists)."""
        value = self.user_dn(username) if attribute == "member" else username
        added = self._modify(self.group_dn(group), {attribute: [(ldap3.MODIFY_ADD, [value])]}, 20)
        if added:
            log.info("added %s to LDAP group %s", username, group)
        return added

    def remove_member(self, group: str, username: str, attribute: str = "memberUid") -> bool:
        """False when the user was not a member (noSuchAttribute)."""
        value = self.user_dn(username) if attribute == "member" else username
        removed = self._modify(
            self.group_dn(group), {attribute: [(ldap3.MODIFY_DELETE, [value])]}, 16
        )
        if removed:
            log.info("removed %s from LDAP group %s", username, group)
        return removed

    def create_user(
        self,
        username: str,
        first_name: str,
        last_name: str,
        email: str,
        password: str | None = None,
        extra: dict[str, str] | None = None,
    ) -> int:
        """A POSIX user with a personal group of the same name; returns its uid."""
        s = self.settings
        if self.user(username) is not None:
            raise LdapError(f"LDAP user {username} already exists")
        uid = self._free_id("uidNumber", s.people_dn, s.uid_range_start, s.uid_range_end)
        gid = self._free_id("gidNumber", s.groups_dn, s.gid_range_start, s.gid_range_end)
        group: dict[str, Any] = {
            "objectClass": s.personal_group_classes,
            "cn": username,
            "gidNumber": gid,
            "memberUid": username,
        }
        if "groupOfNames" in s.personal_group_classes:
            group["member"] = self.user_dn(username)  # groupOfNames needs one member
        self._add(self.group_dn(username), group)
        attributes: dict[str, Any] = {
            "objectClass": s.user_classes,
            "uid": username,
            "cn": f"{first_name} {last_name}".strip() or username,
            "givenName": first_name or username,
            "sn": last_name or username,
            "uidNumber": uid,
            "gidNumber": gid,
            "homeDirectory": f"{s.default_home_base}/{username}",
            "loginShell": s.default_login_shell,
        }
        if email:
            attributes["mail"] = email
        if password:
            attributes["userPassword"] = password
        attributes.update(extra or {})
        self._add(self.user_dn(username), attributes)
        log.info("created LDAP user %s with uid %d", username, uid)
        return uid

    def update_user(self, username: str, attributes: dict[str, str]) -> None:
        changes = {k: [(ldap3.MODIFY_REPLACE, [v])] for k, v in attributes.items() if v}
        if changes:
            self._modify(self.user_dn(username), changes)


def random_password(length: int = 16) -> str:
    alphabet = string.ascii_letters + string.digits + string.punctuation
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _int(value: Any) -> int | None:
    if isinstance(value, list):
        value = value[0] if value else None
    return None if value is None else int(value)


def _describe(connection: ldap3.Connection) -> str:
    result = connection.result or {}
    return f"{result.get('description', '')} {result.get('message', '')}".strip()
