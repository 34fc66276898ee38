"""Username management plugins: how an offering user gets its username on the backend."""

from __future__ import annotations

import abc
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
