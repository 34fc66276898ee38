"""What an S3 management API (Croit's, or RadosGW's Admin Ops) refuses, for both clients."""

from __future__ import annotations

from waldur_site_agent_actors.backends.exceptions import BackendError


class AdminError(BackendError):
    """The API answered with an error; the text is its own message, with the request, and
    never holds a credential."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class NotFound(AdminError):
    """No such user (or key)."""


class Conflict(AdminError):
    """The user, its e-mail or the access key exists already."""
