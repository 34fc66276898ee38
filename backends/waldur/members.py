"""Who a Waldur A user is on Waldur B, and the Waldur B project team that mirrors A's.

`user_resolve_method` says how a member is found on B:
- `identity_bridge` (upstream's default): their Waldur A username (the CUID) is pushed through
  B's Identity Bridge as `identity_bridge_source`, with the profile A shows; B creates or updates
  the user and answers its UUID. Every member of the team counts, named or not on A: their
  username on A may well come from B (`username_reconciliation_enabled`).
- `remote_eduteams`: by `user_match_field`: `cuid` through B's `remote-eduteams/` (the A username
  is the eduTEAMS CUID), `email` or `username` through B's user list.
- `user_field`: B's user list by `user_match_field` (`cuid` means the username there).
With the last two, only members whose offering user is linked here (named, OK) count.

Found users are remembered for the life of the backend; a user not found is skipped with a
warning, or, with `user_not_found_action: fail`, reported as an error once every other member has
been handled. Roles go to B as they are here, or as `role_mapping` renames them.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from waldur_site_agent_actors.backends.exceptions import BackendError
from waldur_site_agent_actors.backends.structures import is_linked
from waldur_site_agent_actors.backends.waldur.http import TargetApi, TargetError
from waldur_site_agent_actors.backends.waldur.identity_bridge import IdentityBridge
from waldur_site_agent_actors.backends.waldur.models import ProjectRole, User, UserReference
from waldur_site_agent_actors.backends.waldur.settings import WaldurSettings

log = logging.getLogger("backends.WaldurBackend")

DEFAULT_ROLE = "PROJECT.MEMBER"
NO_SOURCE = (
    "user_resolve_method is identity_bridge (upstream's default when it is left out) and "
    "identity_bridge_source is not set: no user can be found on Waldur B; set "
    "identity_bridge_source, or user_resolve_method: remote_eduteams or user_field"
)


class Member(msgspec.Struct, kw_only=True, frozen=True):
    """A team member of Waldur A, as the core hands it over (`user_context["team"]` entries)."""

    username: str = ""
    email: str | None = None
    full_name: str | None = None
    role: str | None = None
    offering_user_username: str | None = None
    offering_user_state: str | None = None
    attributes: dict[str, Any] = msgspec.field(default_factory=dict)
    """The profile A shows of them (first_name, organization, ...), for the identity bridge."""

    @property
    def label(self) -> str:
        return self.offering_user_username or self.username


def members(team: list[dict[str, Any]]) -> list[Member]:
    return msgspec.convert(team, list[Member], strict=False)


class Members:
    def __init__(self, api: TargetApi, settings: WaldurSettings) -> None:
        self.api = api
        self.method = settings.user_resolve_method
        self.match_field = settings.user_match_field
        self.not_found_action = settings.user_not_found_action
        self.role_mapping = settings.role_mapping
        self.bridge = (
            IdentityBridge(api, settings.identity_bridge_source)
            if settings.identity_bridge_source
            else None
        )
        self.found: dict[str, str] = {}
        """Match value -> Waldur B user UUID."""
        self.known: dict[str, Member] = {}
        """Offering username here -> who that is, from the latest team the core handed over."""

    @property
    def field(self) -> str:
        """What identifies a member on B, as log lines name it."""
        if self.method == "identity_bridge":
            return "username"
        if self.method == "user_field" and self.match_field == "cuid":
            return "username"
        return self.match_field

    def remember(self, team: list[Member]) -> None:
        self.known.update({m.offering_user_username: m for m in team if m.offering_user_username})

    def counts(self, member: Member) -> bool:
        """Whether the member belongs on B: named and OK here, or anyone with the bridge."""
        if self.method == "identity_bridge":
            return bool(member.username)
        return is_linked(member.offering_user_username, member.offering_user_state)

    def role(self, member: Member) -> str:
        role = member.role or DEFAULT_ROLE
        return self.role_mapping.get(role, role)

    def resolve(self, member: Member) -> str | None:
        """Member's user UUID on Waldur B; None (warned) or BackendError when there is none."""
        value = (member.email if self.field == "email" else member.username) or ""
        reason = ""
        if value and value not in self.found:
            try:
                uuid = self._lookup(value, member)
            except TargetError as exc:
                uuid, reason = None, f": {exc}"
            if uuid:
                self.found[value] = uuid
        if value in self.found:
            return self.found[value]
        message = f"{member.label} has no account on Waldur B ({self.field} {value!r}){reason}"
        if self.method == "identity_bridge" and self.bridge is None:
            message = f"{member.label} not found on Waldur B: {NO_SOURCE}"
        if self.not_found_action == "fail":
            raise BackendError(message)
        log.warning("%s; skipped", message)
        return None

    def _lookup(self, value: str, member: Member) -> str | None:
        if self.method == "identity_bridge":
            return self.bridge.push(value, member.attributes) if self.bridge else None
        if self.method == "remote_eduteams" and self.match_field == "cuid":
            try:
                return self.api.post("remote-eduteams/", {"cuid": value}, UserReference).uuid
            except TargetError as exc:
                if exc.status in (400, 404):
                    return None
                raise
        for user in self.api.list("users/", User, {self.field: value}):
            if self._same(user, value):
                return user.uuid
        return None

    def _same(self, user: User, value: str) -> bool:
        """B's filters may match by substring: only the exact value (email: any case) counts."""
        if self.field == "email":
            return (user.email or "").lower() == value.lower()
        return user.username == value

    def mirror(
        self, project_uuid: str, team: list[Member], add_missing: bool = True
    ) -> tuple[list[str], list[str]]:
        """Make the B project's team A's team, each with their (mapped) A role. (added, removed)
        users."""
        wanted: dict[str, str] = {}
        labels: dict[str, str] = {}
        failures: list[str] = []
        for member in team:
            if not self.counts(member):
                continue
            try:
                uuid = self.resolve(member)
            except BackendError as exc:
                failures.append(str(exc))
                continue
            if uuid:
                wanted[uuid] = self.role(member)
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
