"""Username generation for offering users, when the offering lets the provider make them.

Waldur's policy decides: only `username_generation_policy: service_provider` together with
`service_provider_can_create_offering_user` hands the job to the agent. Every membership sweep
(and every offering-user event) looks at the offering's users, so a user left without a name by
an earlier failure (a crash between two calls, Waldur unreachable, a plugin error) is picked up
again: that is the reconciliation. docs/usernames.md describes the states.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeAlias

import pykka

from waldur_site_agent_actors.actors.backend import BackendProxy
from waldur_site_agent_actors.actors.context import OfferingContext
from waldur_site_agent_actors.actors.user_context import profile_of
from waldur_site_agent_actors.actors.waldur.api import OfferingUsersProxy, WaldurApiProxy
from waldur_site_agent_actors.actors.waldur.models import OfferingUser
from waldur_site_agent_actors.backends.exceptions import (
    BackendError,
    OfferingUserAccountLinkingRequiredError,
    OfferingUserAdditionalValidationRequiredError,
)
from waldur_site_agent_actors.backends.usernames import RESERVED, USERNAME_MAX, OfferingUserInfo

LINKING = "Pending account linking"
VALIDATION = "Pending additional validation"
NEEDS_NAME = frozenset({"Requested", "Creating", "Error creating", LINKING, VALIDATION, "OK"})
"""States in which a user without a username gets one (OK: a name cleared or never set)."""
Parked: TypeAlias = (
    OfferingUserAccountLinkingRequiredError | OfferingUserAdditionalValidationRequiredError
)
"""What a plugin raises when the user (or the provider) must act before a name can be made."""
PARKED = (OfferingUserAccountLinkingRequiredError, OfferingUserAdditionalValidationRequiredError)
MAY_BEGIN = frozenset({"Requested", "Error creating"})
"""States Waldur leaves only through `begin_creating`."""


class UsernameSync:
    """Owned by the membership actor; runs in its thread."""

    def __init__(
        self,
        context: OfferingContext,
        backend: BackendProxy,
        log: logging.LoggerAdapter[Any],
        wait: Callable[[pykka.Future[Any]], Any],
    ) -> None:
        self.context, self.backend, self.log = context, backend, log
        self.wait = wait  # the owner's wait on the backend, which ends when the offering stops

    def sync(self, waldur: WaldurApiProxy) -> int:
        """Name every user of the offering that needs one; returns how many were named."""
        if not self.wait(self.backend.has_usernames()):
            return 0
        options = waldur.offerings.get(self.context.uuid).get().plugin_options or {}
        if options.get("username_generation_policy") != "service_provider" or not options.get(
            "service_provider_can_create_offering_user"
        ):
            return 0
        offering_users = waldur.offering_users
        # The earliest user of the offering gets the plain name, later ones a number.
        waiting = sorted(
            (
                u
                for u in offering_users.of_offering(self.context.uuid).get()
                if u.state in NEEDS_NAME and not u.username
            ),
            key=lambda u: u.created or "",
        )
        if not waiting:
            return 0
        # Restricted users keep their names too: uniqueness is over the whole offering.
        everyone = offering_users.of_offering(self.context.uuid, include_restricted=True).get()
        taken = {u.username for u in everyone if u.username}
        return sum(self._name(waldur, user, taken) for user in waiting)

    def push_profiles(self, offering_users: list[OfferingUser]) -> None:
        """The users the agent serves, to a username plugin that keeps their profiles elsewhere
        (upstream's `sync_user_profiles`: the federation's identity bridge)."""
        if not self.wait(self.backend.has_usernames()):
            return
        served = [info(u) for u in offering_users if u.state in NEEDS_NAME]
        self.wait(self.backend.usernames.sync_user_profiles(served))

    def _name(self, waldur: WaldurApiProxy, user: OfferingUser, taken: set[str]) -> int:
        users = waldur.offering_users
        state = user.state or ""
        try:
            username = self._username(user, taken)
        except PARKED as exc:
            return self._park(users, user, exc)
        except BackendError as exc:
            self.log.error("no username for offering user %s: %s", user.uuid, exc)
            if state not in ("Error creating", "OK"):
                users.set_error_creating(user.uuid).get()
            return 0
        if not username:
            return 0  # a plugin that makes no names: the user stays where it is, not stranded
        self._begin(users, user)
        if state in (LINKING, VALIDATION):
            users.set_validation_complete(user.uuid).get()
        users.set_username(user.uuid, username).get()
        taken.add(username)
        self.log.info("offering user %s is now %r", user.uuid, username)
        return 1

    def _park(self, users: OfferingUsersProxy, user: OfferingUser, exc: Parked) -> int:
        """The plugin needs the user (or the provider) to act first: move it to that state."""
        linking = isinstance(exc, OfferingUserAccountLinkingRequiredError)
        target = LINKING if linking else VALIDATION
        if user.state == target:
            return 0
        if user.state == "OK":  # Waldur has no way back from OK; the log says what is missing
            self.log.warning("offering user %s has no username: %s", user.uuid, exc)
            return 0
        self._begin(users, user)
        if linking:
            users.set_pending_account_linking(user.uuid, str(exc), exc.comment_url).get()
        else:
            users.set_pending_additional_validation(user.uuid, str(exc), exc.comment_url).get()
        self.log.info("offering user %s is now %s: %s", user.uuid, target.lower(), exc)
        return 0

    def _begin(self, users: OfferingUsersProxy, user: OfferingUser) -> None:
        if user.state in MAY_BEGIN:
            users.begin_creating(user.uuid).get()

    def _username(self, user: OfferingUser, taken: set[str]) -> str:
        """An existing backend account as it is; a generated name made unique in the offering."""
        plugin = self.backend.usernames
        existing = self.wait(plugin.get_username(info(user)))
        if existing:
            if existing in taken:
                raise BackendError(f"backend account {existing!r} belongs to another user here")
            return str(existing)
        generated = self.wait(plugin.generate_username(info(user)))
        return unique(generated, taken | RESERVED) if generated else ""


def info(user: OfferingUser) -> OfferingUserInfo:
    """The offering user as username plugins see it."""
    return OfferingUserInfo(
        uuid=user.uuid,
        user_uuid=user.user_uuid or "",
        username=user.username or "",
        state=user.state or "",
        user_username=user.user_username or "",
        user_full_name=user.user_full_name or "",
        user_first_name=user.user_first_name or "",
        user_last_name=user.user_last_name or "",
        user_email=user.user_email or "",
        profile=profile_of(user),
    )


def unique(username: str, taken: set[str] | frozenset[str]) -> str:
    """`alice` if free, else `alice2`, `alice3`, ... (within the 32 characters a name may use)."""
    if username not in taken:
        return username
    for number in range(2, 10_000):
        candidate = f"{username[: USERNAME_MAX - len(str(number))]}{number}"
        if candidate not in taken:
            return candidate
    raise BackendError(f"no free username left for {username!r}")
