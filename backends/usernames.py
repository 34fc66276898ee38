"""Username management plugins: how an offering user gets its username on the backend.

The agent core asks a plugin only for offerings whose Waldur policy hands usernames to the
service provider; it then makes the name unique within the offering and stores it in Waldur
(docs/usernames.md has the whole life cycle).
"""

from __future__ import annotations

import abc
import re
import unicodedata
from typing import Any

import msgspec

from waldur_site_agent_actors.backends.exceptions import OfferingUserAccountLinkingRequiredError


class OfferingUserInfo(msgspec.Struct, frozen=True, kw_only=True):
    """An offering user as a username plugin sees it (pre-resolved; plugins never call Waldur)."""

    uuid: str
    user_uuid: str = ""
    username: str = ""
    state: str = ""
    user_username: str = ""
    user_full_name: str = ""
    user_first_name: str = ""
    user_last_name: str = ""
    user_email: str = ""
    profile: dict[str, Any] = msgspec.field(default_factory=dict)
    """The profile fields Waldur shows the provider (`first_name`, `organization`, ...; the
    offering user's `user_*` fields without the prefix), empty ones left out."""


class UsernameManagementBackend(abc.ABC):
    """Entry-point group `waldur_site_agent.username_management_backends`."""

    required_modules: tuple[str, ...] = ()
    """Modules of an optional extra the plugin needs, imported only when it is constructed (the
    module must import without them: upstream's core imports every installed plugin). One not
    installed is refused by name at validate and start."""

    def __init__(
        self, backend_settings: dict[str, Any] | None = None, offering: Any = None
    ) -> None:
        self.backend_settings = dict(backend_settings or {})
        self.offering = offering

    @abc.abstractmethod
    def generate_username(self, offering_user: OfferingUserInfo) -> str:
        """A new username for the user; '' when this plugin does not make names.

        The core adds a number when the name is taken. Raise
        `OfferingUserAccountLinkingRequiredError` (or `...AdditionalValidationRequiredError`) to
        park the user in that Waldur state, `BackendError` to mark it `Error creating`.
        """

    def get_username(self, offering_user: OfferingUserInfo) -> str:
        """The user's existing account on the backend, or ''. Used as is: never renumbered."""
        return ""

    def get_or_create_username(self, offering_user: OfferingUserInfo) -> str:
        return self.get_username(offering_user) or self.generate_username(offering_user)

    def sync_user_profiles(self, offering_users: list[OfferingUserInfo]) -> None:
        """Every membership sync, before the teams: the offering's users (those in a state the
        agent serves), for a plugin that keeps profiles elsewhere up to date."""


USERNAME_MAX = 32
"""Longest login name the usual Linux tools handle (`useradd`'s limit)."""
USERNAME_MIN = 2
_NOT_ALLOWED = re.compile(r"[^a-z0-9_-]+")

RESERVED = frozenset(
    {
        "adm", "admin", "administrator", "backup", "bin", "daemon", "ftp", "games", "gnats",
        "guest", "halt", "irc", "list", "lp", "mail", "man", "munge", "news", "nobody",
        "operator", "postfix", "proxy", "root", "shutdown", "slurm", "sshd", "sync", "sys",
        "uucp", "wheel", "www-data",
    }
)  # fmt: skip
"""System accounts a generated name must never become; the core treats them as taken."""


def ascii_fold(text: str) -> str:
    """`Åsa Øberg` -> `Asa Oberg`: accents dropped, letters with no ASCII form removed."""
    decomposed = unicodedata.normalize("NFKD", text.replace("ø", "o").replace("Ø", "O"))
    return decomposed.encode("ascii", "ignore").decode()


def normalise(candidate: str) -> str:
    """Lowercase ASCII letters, digits, `_` and `-`, starting with a letter, at most 32 long."""
    name = _NOT_ALLOWED.sub("", ascii_fold(candidate).lower())
    name = name.lstrip("0123456789_-")
    return name[:USERNAME_MAX]


def local_part(address: str) -> str:
    """`bob.berg@example.org` -> `bob.berg`; a plain name is its own local part."""
    return address.split("@", 1)[0]


class BaseUsernameBackend(UsernameManagementBackend):
    """`base`: the first usable of, in order,

    1. first initial and last word of the full name (`Alice Andersen` -> `aandersen`);
    2. the Waldur username, before any `@` (`bob.berg@uni.example` -> `bobberg`);
    3. a one-word full name (`Cher` -> `cher`);
    4. the email address before the `@`;

    each folded to ASCII, lowercased, cut to `[a-z0-9_-]` starting with a letter, at most 32
    characters; usable means at least 2 characters are left. A user with none of these (say a
    name in another script and an opaque identifier as username) cannot get a name by rule: the
    user is asked to link an existing account (Waldur state `Pending account linking`) until the
    profile gives one or the provider sets a username in Waldur.
    """

    def generate_username(self, offering_user: OfferingUserInfo) -> str:
        words = ascii_fold(offering_user.user_full_name).split()
        candidates = [
            words[0][:1] + words[-1] if len(words) >= 2 else "",
            local_part(offering_user.user_username),
            words[0] if len(words) == 1 else "",
            local_part(offering_user.user_email),
        ]
        for candidate in candidates:
            name = normalise(candidate)
            if len(name) >= USERNAME_MIN:
                return name
        raise OfferingUserAccountLinkingRequiredError(
            "No username can be made from this user's name, username or email address; "
            "link an existing account, or set the username in Waldur."
        )
