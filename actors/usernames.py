"""Username generation for offering users, when the offering lets the provider make them.

Waldur's policy decides: only `username_generation_policy: service_provider` together with
`service_provider_can_create_offering_user` hands the job to the agent.
"""

from __future__ import annotations

import logging
from typing import Any

from actors.child import BACKEND_TIMEOUT
from actors.context import OfferingContext
from actors.waldur.models import OfferingUser
from backends.exceptions import (
    BackendError,
    OfferingUserAccountLinkingRequiredError,
    OfferingUserAdditionalValidationRequiredError,
)
from backends.usernames import USERNAME_MAX, OfferingUserInfo

NEEDS_NAME = frozenset(
    {
        "Requested",
        "Error creating",
        "Creating",
        "Pending account linking",
        "Pending additional validation",
    }
)


class UsernameSync:
    """Owned by the membership actor; runs in its thread."""

    def __init__(self, context: OfferingContext, backend: Any, log: logging.LoggerAdapter[Any]):
        self.context, self.backend, self.log = context, backend, log

    def sync(self, waldur: Any) -> int:
        if not self.backend.has_usernames().get(timeout=BACKEND_TIMEOUT):
            return 0
        options = waldur.offerings.get(self.context.uuid).get().plugin_options or {}
        if options.get("username_generation_policy") != "service_provider" or not options.get(
            "service_provider_can_create_offering_user"
        ):
            return 0
        users = waldur.offering_users.of_offering(self.context.uuid).get()
        taken = {u.username for u in users if u.username}
        named = 0
        for user in users:
            if user.state in NEEDS_NAME and not user.username:
                named += self._name(waldur, user, taken)
        return named

    def _name(self, waldur: Any, user: OfferingUser, taken: set[str]) -> int:
        users = waldur.offering_users
        if user.state in ("Requested", "Error creating"):
            users.begin_creating(user.uuid).get()
        info = OfferingUserInfo(
            uuid=user.uuid,
            user_uuid=user.user_uuid or "",
            username=user.username or "",
            state=user.state or "",
            user_username=user.user_username or "",
            user_full_name=user.user_full_name or "",
            user_email=user.user_email or "",
        )
        try:
            username = self.backend.usernames.get_or_create_username(info).get(
                timeout=BACKEND_TIMEOUT
            )
        except OfferingUserAccountLinkingRequiredError as exc:
            if user.state != "Pending account linking":
                users.set_pending_account_linking(user.uuid, str(exc), exc.comment_url).get()
            return 0
        except OfferingUserAdditionalValidationRequiredError as exc:
            if user.state != "Pending additional validation":
                users.set_pending_additional_validation(user.uuid, str(exc), exc.comment_url).get()
            return 0
        except BackendError as exc:
            self.log.error("no username for offering user %s: %s", user.uuid, exc)
            users.set_error_creating(user.uuid).get()
            return 0
        if not username:
            return 0
        username = unique(username, taken)
        taken.add(username)
        if user.state in ("Pending account linking", "Pending additional validation"):
            users.set_validation_complete(user.uuid).get()
        users.set_username(user.uuid, username).get()
        self.log.info("offering user %s is now %r", user.uuid, username)
        return 1


def unique(username: str, taken: set[str]) -> str:
    """`alice` if free, else `alice2`, `alice3`, ... (within the 32 characters a name may use)."""
    if username not in taken:
        return username
    for number in range(2, 10_000):
        candidate = f"{username[: USERNAME_MAX - len(str(number))]}{number}"
        if candidate not in taken:
            return candidate
    raise BackendError(f"no free username left for {username!r}")
