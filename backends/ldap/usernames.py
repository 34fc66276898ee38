"""`ldap`: usernames from upstream's LDAP plugin rules, each one a POSIX user in the directory.

An offering user who already has an entry (found by email, then by Waldur username) keeps it.
Otherwise a name is made by `username_format`, made unique in the directory (for the dotted
formats the first name's prefix grows first: `j.smith`, `jo.smith`, ..., then a number:
`j.smith2`), and the user is created with a personal posixGroup of the same name, a uid and gid
from the configured ranges, and added to the `access_groups`; with `welcome_email` the user is
then sent a welcome message (backends.ldap.welcome). Every membership sync pushes
names and email addresses from Waldur to the users' entries.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from typing import Any

import msgspec

from waldur_site_agent_actors.backends.exceptions import BackendError, ConfigurationError
from waldur_site_agent_actors.backends.ldap.settings import LdapSettings
from waldur_site_agent_actors.backends.ldap.welcome import WelcomeMail
from waldur_site_agent_actors.backends.usernames import OfferingUserInfo, UsernameManagementBackend

log = logging.getLogger("backends.ldap")
POSIX_MAX = 32
_NOT_ALNUM = re.compile(r"[^a-zA-Z0-9]")
_NOT_POSIX = re.compile(r"[^a-z0-9._-]")
_LEADING = re.compile(r"^[^a-z_]+")
SUFFIX_TRIES = 1000


class LdapUsernameBackend(UsernameManagementBackend):
    required_modules = ("ldap3",)

    def __init__(self, backend_settings: dict[str, Any] | None = None, offering: Any = None):
        super().__init__(backend_settings, offering)
        raw = self.backend_settings.get("ldap")
        if not raw:
            raise ConfigurationError(
                "the ldap username backend needs an `ldap` block in backend_settings"
            )
        try:
            self.settings = msgspec.convert(raw, LdapSettings)
        except (msgspec.ValidationError, ValueError) as exc:
            raise ConfigurationError(f"backend_settings.ldap: {exc}") from exc
        # ldap3, the `ldap` extra, is imported only here (`required_modules`).
        from waldur_site_agent_actors.backends.ldap import directory

        self.directory = directory.Directory(self.settings)
        self.new_password = directory.random_password
        welcome = self.settings.welcome_email
        self.welcome = WelcomeMail(welcome) if welcome else None

    def get_username(self, offering_user: OfferingUserInfo) -> str:
        if offering_user.user_email:
            entry = self.directory.user_by_email(offering_user.user_email)
            if entry and entry.get("uid"):
                return _first(entry["uid"])
        waldur = offering_user.user_username
        if waldur and self.directory.user(waldur) is not None:
            return waldur
        return ""

    def generate_username(self, offering_user: OfferingUserInfo) -> str:
        first, last = _first_and_last(offering_user)
        base = self._candidate(offering_user, first, last)
        if not base:
            raise BackendError(
                f"cannot make a username for offering user {offering_user.uuid}: no first and "
                "last name and no usable Waldur username"
            )
        username = self._unique(base, _alnum(first), _alnum(last))
        s = self.settings
        extra = {}
        if s.waldur_username_attribute and offering_user.user_username:
            extra[s.waldur_username_attribute] = offering_user.user_username
        password = self.new_password() if s.generate_vpn_password else None
        email = offering_user.user_email
        uid = self.directory.create_user(username, first, last, email, password, extra)
        for group in s.access_groups or []:
            try:
                self.directory.add_member(group.name, username, group.attribute)
            except BackendError as exc:
                log.error("cannot add %s to access group %s: %s", username, group.name, exc)
        if self.welcome and email:
            fields = {
                "username": username,
                "first_name": first,
                "last_name": last,
                "email": email,
                "home_directory": f"{s.default_home_base}/{username}",
                "login_shell": s.default_login_shell,
                "uid_number": str(uid),
                "vpn_password": password or "",
            }
            self.welcome.send(email, fields)
        return username

    def sync_user_profiles(self, offering_users: list[OfferingUserInfo]) -> None:
        """Names and email from Waldur onto the users' existing entries."""
        for user in offering_users:
            if not user.username:
                continue
            first, last = user.user_first_name, user.user_last_name
            changes = {"givenName": first, "sn": last, "mail": user.user_email}
            if first and last:
                changes["cn"] = f"{first} {last}"
            if self.settings.waldur_username_attribute:
                changes[self.settings.waldur_username_attribute] = user.user_username
            try:
                if self.directory.user(user.username) is None:
                    log.warning("LDAP user %s not found; profile not synced", user.username)
                    continue
                self.directory.update_user(user.username, changes)
            except BackendError as exc:
                log.error("profile of LDAP user %s not synced: %s", user.username, exc)

    def _candidate(self, user: OfferingUserInfo, first: str, last: str) -> str:
        fmt = self.settings.username_format
        first, last = _alnum(first), _alnum(last)
        if fmt == "waldur_username" or not first or not last:
            return _posix(user.user_username)
        initial = first[0]
        return {
            "first_initial_lastname": f"{initial}{last}",
            "first_letter_full_lastname": f"{initial}.{last}",
            "firstname_dot_lastname": f"{first}.{last}",
            "firstname_lastname": f"{first}{last}",
        }[fmt].lower()[:POSIX_MAX]

    def _unique(self, base: str, first: str, last: str) -> str:
        taken = self.directory.user
        if taken(base) is None:
            return base
        if first and last and "." in base:
            for length in range(2, len(first) + 1):
                candidate = f"{first[:length]}.{last}".lower()[:POSIX_MAX]
                if candidate != base and taken(candidate) is None:
                    return candidate
        for number in range(2, SUFFIX_TRIES):
            candidate = f"{base[: POSIX_MAX - len(str(number))]}{number}"
            if taken(candidate) is None:
                return candidate
        raise BackendError(f"no free username in LDAP for {base!r}")


def _first_and_last(user: OfferingUserInfo) -> tuple[str, str]:
    """Waldur's first and last name; the full name split at its last word when they are unset."""
    if user.user_first_name or user.user_last_name:
        return user.user_first_name, user.user_last_name
    words = user.user_full_name.split()
    return (" ".join(words[:-1]), words[-1]) if len(words) >= 2 else ("", "")


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFD", text).encode("ascii", "ignore").decode("ascii")


def _alnum(name: str) -> str:
    return _NOT_ALNUM.sub("", _ascii(name))


def _posix(raw: str) -> str:
    """Lowercase `[a-z0-9._-]`, starting with a letter or `_`, at most 32 characters."""
    return _LEADING.sub("", _NOT_POSIX.sub("", _ascii(raw).lower()))[:POSIX_MAX]


def _first(value: Any) -> str:
    return str(value[0] if isinstance(value, list) else value)
