"""Upstream's membership sync, resource by resource, for an upstream plugin.

Its steps and their order are those of upstream's membership processor: the project's metadata
and end date, the members (keyed by offering username, or by CUID for plugins that resolve
people through the identity bridge; consented members only when the plugin asks), service and
course accounts, pause/downscale/restore and the metadata, the resource's end date, effective id
and limits, the per-user limits. The Waldur data it works on is read once per sweep, as
upstream's processor reads it once per cycle.
"""

from __future__ import annotations

import datetime
import logging
import time
from enum import Enum
from typing import Any
from uuid import UUID

from waldur_api_client.models.service_account_state import ServiceAccountState
from waldur_api_client.types import UNSET, Unset

from waldur_site_agent_actors.actors.upstream.waldur import (
    ACTIONABLE_USER_STATES,
    MEMBERSHIP_FIELDS,
    UpstreamWaldur,
)
from waldur_site_agent_actors.backends.structures import WaldurResource
from waldur_site_agent_actors.config.model import Offering

log = logging.getLogger("actors.upstream")


def attribute(value: Any) -> Any:
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value.value if isinstance(value, Enum) else value


def is_set(value: Any) -> bool:
    return value is not None and not isinstance(value, Unset)


class MembershipSync:
    def __init__(
        self,
        plugin: Any,
        offering: Offering,
        waldur: UpstreamWaldur,
    ) -> None:
        self.plugin, self.offering, self.waldur = plugin, offering, waldur
        self.provider_uuid = ""
        self.listed: dict[str, Any] = {}
        self.users: list[Any] = []
        self.teams: dict[tuple[str, bool], list[Any]] = {}
        self.projects: dict[str, Any] = {}
        self.accounts: dict[str, list[Any]] = {}

    @property
    def client(self) -> Any:
        return self.waldur.client

    # -- one sweep -----------------------------------------------------------------------------

    def start(self, states: tuple[str, ...]) -> None:
        listed = self.waldur.resources(list(states), MEMBERSHIP_FIELDS)
        self.listed = {m.uuid.hex: m for m in listed if m.backend_id}
        self.teams, self.projects, self.accounts = {}, {}, {}
        self.users = self._offering_users()
        if (
            self.offering.username_reconciliation_enabled
            and self.plugin.sync_offering_user_usernames(
                self.offering.waldur_offering_uuid, self.client
            )
        ):
            self.users = self._offering_users()

    def _offering_users(self) -> list[Any]:
        """The offering's users in states that take part in a sync; none when the offering's
        policy leaves usernames to a provider that may not create them (upstream goes on
        without them then)."""
        try:
            options = self.waldur.offering_details().plugin_options
            policy = convert_value(getattr(options, "username_generation_policy", None))
            may_create = getattr(options, "service_provider_can_create_offering_user", None)
            if policy == "service_provider" and not (is_set(may_create) and may_create):
                log.error(
                    "offering %s leaves usernames to the service provider but does not let it "
                    "create offering users: members are synced without them",
                    self.offering.name,
                )
                return []
            users = self.waldur.offering_users()
        except Exception as exc:
            log.error("offering users of %s not read: %s", self.offering.name, exc)
            return []
        return [u for u in users if convert_value(u.state) in ACTIONABLE_USER_STATES]

    def model(self, resource: WaldurResource) -> Any:
        """The sweep's model of a resource; one the sweep's listing lacks is read afresh."""
        key = UUID(resource.uuid).hex
        if key not in self.listed:
            self.listed[key] = self.waldur.resource(key)
        return self.listed[key]

    # -- one resource ------------------------------------------------------------------------

    def sync(self, model: Any) -> bool:
        plugin = self.plugin
        info = plugin.pull_resource(model)
        if info is None:
            return False
        project = self._source_project(model)
        plugin.sync_resource_project(model, project)
        plugin.sync_project_end_date(model, self.client, project)
        usernames = self._sync_members(model, list(info.users or []))
        self._sync_accounts(model)
        self._sync_status(model)
        plugin.sync_resource_end_date(model, self.client)
        plugin.sync_resource_effective_id(model, self.client)
        plugin.sync_resource_limits(model, self.client)
        self._sync_user_limits(model, usernames)
        return True

    def _source_project(self, model: Any) -> Any | None:
        if not self.plugin.requires_source_project or not self.provider_uuid:
            return None
        key = model.project_uuid.hex
        if key not in self.projects:
            try:
                self.projects[key] = self.waldur.source_project(self.provider_uuid, key)
            except Exception as exc:
                log.warning("source project %s not read: %s", key, exc)
                self.projects[key] = None
        return self.projects[key]

    def _team(self, model: Any, consented: bool) -> list[Any]:
        key = (model.project_uuid.hex, consented)
        if key not in self.teams:
            if consented and self.plugin.shared_project_membership:
                self.teams[key] = self._project_consented_team(model)
            else:
                self.teams[key] = self.waldur.team(model.uuid.hex, True if consented else UNSET)
        return self.teams[key]

    def _project_consented_team(self, model: Any) -> list[Any]:
        """Resources of one project sharing one backend project: a member stays while they
        consented to any offering with a resource in it."""
        uuids = {model.uuid.hex}
        try:
            siblings = self.waldur.resources_of_project(
                model.project_uuid.hex, list(self.plugin.handled_resource_states)
            )
            uuids |= {r.uuid.hex for r in siblings if is_set(r.uuid)}
        except Exception as exc:
            log.warning("resources of project %s not listed: %s", model.project_uuid, exc)
        merged: dict[str, Any] = {}
        for uuid in sorted(uuids):
            try:
                team = self.waldur.team(uuid, True)
            except Exception as exc:
                log.warning("consented team of %s not read: %s", uuid, exc)
                continue
            for member in team:
                key = member.uuid.hex if is_set(member.uuid) else member.username
                if key:
                    merged[key] = member
        return list(merged.values())

    def attributes(self, users: list[Any]) -> dict[str, dict[str, Any]]:
        """Offering username -> the profile attributes the offering exposes."""
        exposed = [f for f in self.waldur.exposed_fields() if f != "username"]
        result: dict[str, dict[str, Any]] = {}
        for user in users:
            if not user.username:
                continue
            found: dict[str, Any] = {}
            for name in exposed:
                names = ["full_name", "first_name", "last_name"] if name == "full_name" else [name]
                for each in names:
                    value = getattr(user, f"user_{each}", None)
                    if is_set(value):
                        found[each] = attribute(value)
            if found:
                result[user.username] = found
        return result

    def _sync_members(self, model: Any, on_backend: list[str]) -> set[str]:
        plugin, users = self.plugin, self.users
        local = set(on_backend)
        states: dict[str, Any]
        if getattr(plugin, "skip_resource_team_diff", False) is True:
            existing, stale, new = local, set[str](), set[str]()
            roles, emails, cuids = {}, {}, {}
            attributes = self.attributes(users)
            states = {u.username: u.state for u in users if u.username}
        else:
            team = self._team(model, bool(getattr(plugin, "fetch_consented_users_only", False)))
            if getattr(plugin, "user_resolve_method", None) == "identity_bridge":
                wanted = {m.username for m in team if m.username}
                roles = {m.username: m.role for m in team if m.username and m.role}
                emails = {
                    u.user_username: u.user_email
                    for u in users
                    if is_set(u.user_username) and isinstance(u.user_email, str)
                }
                cuids = {m.username: m.username for m in team if m.username}
                by_username = self.attributes(users)
                attributes = {
                    u.user_username: by_username[u.username]
                    for u in users
                    if is_set(u.user_username) and u.username and u.username in by_username
                }
                states = {u.user_username: u.state for u in users if is_set(u.user_username)}
            else:
                wanted = {m.offering_user_username for m in team if m.offering_user_username}
                roles = {
                    m.offering_user_username: m.role
                    for m in team
                    if m.offering_user_username and m.role
                }
                emails = {
                    u.username: u.user_email
                    for u in users
                    if u.username and isinstance(u.user_email, str)
                }
                cuids = {
                    m.offering_user_username: m.username
                    for m in team
                    if m.offering_user_username and m.username
                }
                attributes = self.attributes(users)
                states = {u.username: u.state for u in users if u.username}
            existing, new, stale = wanted & local, wanted - local, local - wanted
        if model.restrict_member_access:
            plugin.remove_users_from_resource(model, existing, user_cuids=cuids, user_roles=roles)
            return set()
        added = plugin.add_users_to_resource(
            model,
            new,
            homedir_umask=self.offering.backend_settings.get("default_homedir_umask", "0077"),
            user_roles=roles,
            user_emails=emails,
            user_cuids=cuids,
            user_attributes=attributes,
            offering_user_states=states,
        )
        plugin.remove_users_from_resource(model, stale, user_cuids=cuids, user_roles=roles)
        plugin.process_existing_users(existing)
        plugin.reconcile_existing_user_roles(model, existing, roles, cuids)
        self._report_statuses(model)
        return existing | set(added or ())

    def _report_statuses(self, model: Any) -> None:
        options = getattr(model.offering_plugin_options, "additional_properties", None) or {}
        if not options.get("enable_membership_sync_status"):
            return
        try:
            report = self.plugin.get_membership_sync_report(model)
            if report is not None:
                self.waldur.set_membership_statuses(model.uuid, report)
        except Exception as exc:
            log.warning("membership statuses of %s not reported: %s", model.uuid, exc)

    def _sync_accounts(self, model: Any) -> None:
        """Service and course accounts of the resource's project; best effort, as upstream."""
        for kind, listing in (
            ("service", self.waldur.service_accounts),
            ("course", self.waldur.course_accounts),
        ):
            try:
                if kind not in self.accounts:
                    self.accounts[kind] = listing()
                mine = [
                    a
                    for a in self.accounts[kind]
                    if is_set(a.project_uuid) and a.project_uuid.hex == model.project_uuid.hex
                ]
                active = {
                    a.username for a in mine if a.username and a.state == ServiceAccountState.OK
                }
                closed = {
                    a.username for a in mine if a.username and a.state == ServiceAccountState.CLOSED
                }
                self.plugin.add_users_to_resource(model, active)
                self.plugin.remove_users_from_resource(model, closed)
            except Exception as exc:
                log.warning("%s accounts of %s not synced: %s", kind, model.backend_id, exc)

    def _sync_status(self, model: Any) -> None:
        backend_id = model.backend_id
        if model.paused:
            self.plugin.pause_resource(backend_id)
        elif model.downscaled:
            self.plugin.downscale_resource(backend_id)
        else:
            self.plugin.restore_resource(backend_id)
        metadata = self.plugin.get_resource_metadata(backend_id)
        self.waldur.set_backend_metadata(model.uuid.hex, metadata)

    def _sync_user_limits(self, model: Any, usernames: set[str]) -> None:
        if model.restrict_member_access:
            return
        on_backend = self.plugin.get_resource_user_limits(model.backend_id)
        wanted: dict[str, dict[str, int]] = {}
        for item in self.waldur.user_limits(model.uuid.hex):
            wanted.setdefault(item.user, {})[item.component_type] = int(float(item.limit))
        for username in sorted(usernames):
            limits = wanted.get(username)
            if limits is None:
                if not on_backend.get(username):
                    continue
                limits = {}  # Waldur has none: the backend's are lifted
            try:
                self.plugin.set_resource_user_limits(model.backend_id, username, limits)
            except Exception as exc:
                log.error("limits of %s on %s not set: %s", username, model.backend_id, exc)

    # -- what order processing asks of Waldur's people --------------------------------------

    def user_context(self, model: Any, ours: dict[str, Any]) -> dict[str, Any]:
        """Upstream's `user_context` for a new resource: its team and their offering users as
        `waldur_api_client` models (by user UUID too), the plan's quotas and the provider's
        SSH keys (keyed by dashed UUID, as upstream keys them)."""
        context = self._people(model)
        context["plan_quotas"] = {
            k: int(v) for k, v in (ours.get("plan_quotas") or {}).items() if v
        }
        context["ssh_keys"] = {
            str(UUID(k)): v for k, v in (ours.get("ssh_keys") or {}).items() if v
        }
        return context

    def _people(self, model: Any) -> dict[str, Any]:
        """The team, read again while empty as many times as the plugin asks (Waldur may not
        have committed the project's first member yet); nothing at all when Waldur fails."""
        attempts = max(1, int(self.plugin.team_fetch_attempts))
        try:
            team: list[Any] = []
            for attempt in range(attempts):
                team = self.waldur.team(model.uuid.hex)
                if team or attempt == attempts - 1:
                    break
                time.sleep(float(self.plugin.team_fetch_delay))
            if not team:
                raise LookupError(f"no team members for resource {model.uuid}")
            members = {m.uuid for m in team}
            users = [u for u in self.waldur.offering_users() if u.user_uuid in members]
        except Exception as exc:
            log.warning("user context of %s not read: %s", model.uuid, exc)
            return {
                "team": [],
                "offering_users": [],
                "user_mappings": {},
                "offering_user_mappings": {},
            }
        return {
            "team": team,
            "offering_users": users,
            "user_mappings": {m.uuid: m for m in team},
            "offering_user_mappings": {u.user_uuid: u for u in users},
        }

    def member_details(self, model: Any) -> dict[str, Any]:
        """What upstream passes with the team of a resource it has just created."""
        people = self._people(model)
        users = people["offering_users"]
        return {
            "homedir_umask": self.offering.backend_settings.get("default_homedir_umask", "0077"),
            "user_cuids": {
                u.username: u.user_username
                for u in users
                if u.username and is_set(u.user_username) and u.user_username
            },
            "user_roles": {
                m.offering_user_username: m.role
                for m in people["team"]
                if m.offering_user_username and m.role
            },
            "user_attributes": self.attributes(users),
        }


def convert_value(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value
