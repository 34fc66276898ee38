"""Who a Waldur A user is on Waldur B, and the Waldur B project team that mirrors A's.

Users are matched by one field (`user_match_field`): `cuid` (the eduTEAMS CUID, which is the
Waldur username of a federated user, resolved by B's `remote-eduteams/`), `email` or `username`
(B's user list). Found users are remembered for the life of the backend; a user not found is
skipped with a warning, or, with `user_not_found_action: fail`, reported as an error once every
other member has been handled.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from waldur_site_agent_actors.backends.exceptions import BackendError
from waldur_site_agent_actors.backends.waldur.http import TargetApi, TargetError
from waldur_site_agent_actors.backends.waldur.models import ProjectRole, User, UserReference

log = logging.getLogger("backends.WaldurBackend")

DEFAULT_ROLE = "PROJECT.MEMBER"


class Member(msgspec.Struct, kw_only=True, frozen=True):
    """A team member of Waldur A, as the core hands it over (`user_context["team"]` entries)."""

    username: str = ""
    email: str | None = None
    full_name: str | None = None
    role: str | None = None
    offering_user_username: str | None = None

    @property
    def label(self) -> str:
        return self.offering_user_username or self.username


def members(team: list[dict[str, Any]]) -> list[Member]:
    return msgspec.convert(team, list[Member], strict=False)


class Members:
    def __init__(self, api: TargetApi, match_field: str, not_found_action: str) -> None:
        self.api, self.match_field, self.not_found_action = api, match_field, not_found_action
        self.found: dict[str, str] = {}
        """Match value -> Waldur B user UUID."""
        self.known: dict[str, Member] = {}
        """Offering username here -> who that is, from the latest team the core handed over."""

    def remember(self, team: list[Member]) -> None:
        self.known.update({m.offering_user_username: m for m in team if m.offering_user_username})

    def resolve(self, member: Member) -> str | None:
        """Member's user UUID on Waldur B; None (warned) or BackendError when there is none."""
        value = (member.email if self.match_field == "email" else member.username) or ""
        if value and value not in self.found:
            uuid = self._lookup(value)
            if uuid:
                self.found[value] = uuid
        if value in self.found:
            return self.found[value]
        message = f"{member.label} has no account on Waldur B ({self.match_field} {value!r})"
        if self.not_found_action == "fail":
            raise BackendError(message)
        log.warning("%s; skipped", message)
        return None

    def _lookup(self, value: str) -> str | None:
        if self.match_field == "cuid":
            try:
                return self.api.post("remote-eduteams/", {"cuid": value}, UserReference).uuid
            except TargetError as exc:
                if exc.status in (400, 404):
                    return None
                raise
        for user in self.api.list("users/", User, {self.match_field: value}):
            if self._same(user, value):
                return user.uuid
        return None

    def _same(self, user: User, value: str) -> bool:
        """B's filters may match by substring: only the exact value (email: any case) counts."""
        if self.match_field == "email":
            return (user.email or "").lower() == value.lower()
        return user.username == value

    def mirror(
        self, project_uuid: str, team: list[Member], add_missing: bool = True
    ) -> tuple[list[str], list[str]]:
        """Make the B project's team A's team, each with their A role. (added, removed) users."""
        wanted: dict[str, str] = {}
        labels: dict[str, str] = {}
        failures: list[str] = []
        for member in team:
            try:
                uuid = self.resolve(member)
            except BackendError as exc:
                failures.append(str(exc))
                continue
            if uuid:
                wanted[uuid] = member.role or DEFAULT_ROLE
                labels[uuid] = member.label
        have: dict[str, set[str]] = {}
        names: dict[str, str] = {}
        for grant in self.api.list(f"projects/{project_uuid}/list_users/", ProjectRole):
            have.setdefault(grant.user_uuid, set()).add(grant.role_name)
            names[grant.user_uuid] = grant.user_username or grant.user_uuid
        added, removed = [], []
        if add_missing:
            for uuid, role in wanted.items():
                if role not in have.get(uuid, set()):
                    self.add(project_uuid, uuid, role)
                    added.append(labels[uuid])
        for uuid, roles in have.items():
            for role in sorted(roles):
                if wanted.get(uuid) != role:
                    self.remove(project_uuid, uuid, role)
                    removed.append(names[uuid])
        if failures:
            raise BackendError("; ".join(failures))
        return added, removed

    def add(self, project_uuid: str, user_uuid: str, role: str) -> None:
        self.api.send(f"projects/{project_uuid}/add_user/", {"user": user_uuid, "role": role})

    def remove(self, project_uuid: str, user_uuid: str, role: str) -> None:
        self.api.send(f"projects/{project_uuid}/delete_user/", {"user": user_uuid, "role": role})
