"""Username management plugins: how an offering user gets its username on the backend."""

from __future__ import annotations

import abc
import re
import unicodedata
from typing import Any

import msgspec


class OfferingUserInfo(msgspec.Struct, frozen=True, kw_only=True):
    """An offering user as a username plugin sees it (pre-resolved; plugins never call Waldur)."""

    uuid: str
    user_uuid: str = ""
    username: str = ""
    state: str = ""
    user_username: str = ""
    user_full_name: str = ""
    user_email: str = ""


class UsernameManagementBackend(abc.ABC):
    """Entry-point group `waldur_site_agent.username_management_backends`."""

    def __init__(
        self, backend_settings: dict[str, Any] | None = None, offering: Any = None
    ) -> None:
        self.backend_settings = dict(backend_settings or {})
        self.offering = offering

    @abc.abstractmethod
    def generate_username(self, offering_user: OfferingUserInfo) -> str:
        """A new username for the user; '' when this plugin does not make names."""

    def get_username(self, offering_user: OfferingUserInfo) -> str:
        """The user's existing username on the backend, or ''."""
        return ""

    def get_or_create_username(self, offering_user: OfferingUserInfo) -> str:
        return self.get_username(offering_user) or self.generate_username(offering_user)


USERNAME_MAX = 32
_ALLOWED = re.compile(r"[^a-z0-9_-]+")


def ascii_fold(text: str) -> str:
    """`Åsa Øberg` -> `Asa Oberg`: accents dropped, letters with no ASCII form removed."""
    decomposed = unicodedata.normalize("NFKD", text.replace("ø", "o").replace("Ø", "O"))
    return decomposed.encode("ascii", "ignore").decode()


def normalise(candidate: str) -> str:
    """Lowercase ASCII letters, digits, `_` and `-`, starting with a letter, at most 32 long."""
    name = _ALLOWED.sub("", ascii_fold(candidate).lower())
    name = name.lstrip("0123456789_-")
    return name[:USERNAME_MAX]


class BaseUsernameBackend(UsernameManagementBackend):
    """`base`: a username from the person, first initial and last name (`Alice Andersen` ->
    `aandersen`), else their Waldur username; the core makes it unique within the offering."""

    def generate_username(self, offering_user: OfferingUserInfo) -> str:
        words = ascii_fold(offering_user.user_full_name).split()
        if len(words) >= 2:
            name = normalise(words[0][:1] + words[-1])
            if name:
                return name
        return normalise(offering_user.user_username) or normalise(words[0] if words else "")
