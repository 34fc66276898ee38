"""membership_sync: Waldur's project teams become backend associations; status and limits follow.

A full sweep runs on every tick (and after a broker reconnect, so a missed event is repaired);
events narrow the work to the projects and resources they name, a burst of them to one sync.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from waldur_site_agent_actors.actors import messages as m
from waldur_site_agent_actors.actors.child import ModeActor
from waldur_site_agent_actors.actors.convert import waldur_resource
from waldur_site_agent_actors.actors.failure import said
from waldur_site_agent_actors.actors.membership_round import Round
from waldur_site_agent_actors.actors.pulled import apply_updates, reconcile_usernames
from waldur_site_agent_actors.actors.user_context import (
    hand_over_offering,
    member_details,
    team_entries,
)
from waldur_site_agent_actors.actors.usernames import UsernameSync
from waldur_site_agent_actors.actors.waldur.client import WaldurError, WaldurUnreachable
from waldur_site_agent_actors.actors.waldur.models import Resource, TeamMember
from waldur_site_agent_actors.backends.exceptions import BackendError
from waldur_site_agent_actors.backends.structures import BackendResourceInfo, is_linked


class SyncDirty(m.Message, frozen=True):
    """Sync what the events received since the last one marked as changed."""


@dataclass
class Dirty:
    """What events said changed since the last sync: whole projects, single resources, or all."""

    projects: set[str] = field(default_factory=set)
    resources: set[str] = field(default_factory=set)
    everything: bool = False

    def mark(self, event: m.Message) -> None:
        if isinstance(event, m.RoleChanged) and event.resource_uuid:
            self.resources.add(event.resource_uuid)
        elif isinstance(event, (m.RoleChanged, m.ProjectAccountChanged)):
            self.projects.add(event.project_uuid)
        elif isinstance(event, m.ResourceChanged):
            self.resources.add(event.resource_uuid)
        else:  # an offering user changed: any project may hold it
            self.everything = True

    def covers(self, resource: Resource) -> bool:
        return (
            self.everything
            or resource.uuid in self.resources
            or (resource.project_uuid or "") in self.projects
        )


EVENTS = (m.RoleChanged, m.ProjectAccountChanged, m.ResourceChanged, m.OfferingUserChanged)


class MembershipActor(ModeActor):
    """Events only mark projects and resources dirty; one sync covers all marked since the last,
    so a burst of role changes in one project costs one sync of it, not one per event."""

    mode = "membership_sync"
    role = "membership"
    tick = m.MembershipTick()

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.dirty = Dirty()
        self.held: list[m.Message] = []  # events acknowledged once the sync covering them ran
        self.recreate_missing = False  # Waldur asked for a forced resync: done by the next sweep
        # What syncs changed: members linked or unlinked and resources recreated on the backend,
        # Erred resources back to OK. A sweep reports its own as what events had not done (the
        # reconciliation's fixes). States and per-user limits are set on every sync, and the
        # plugins do not say whether that changed anything: they are not counted.
        self.corrected = 0

    def prepare(self) -> None:
        self.caps = caps = self.wait(self.backend.capabilities(self.role))
        self.states: tuple[str, ...] = caps["handled_resource_states"]
        self.reconciles_team: bool = caps["reconciles_team"]
        self.prepaid: bool = caps["prepaid"]
        self.upstream: bool = caps["upstream"]
        self.usernames = UsernameSync(self.context, self.backend, self.log, self.wait)

    def handle(self, message: Any) -> Any:
        if isinstance(message, EVENTS):
            self.dirty.mark(message)
            self.held.append(message)
            if len(self.held) == 1:
                # Behind whatever else is queued: events already waiting join this sync.
                self.actor_ref.tell(SyncDirty())
        elif isinstance(message, SyncDirty):
            self.sync_dirty()
        else:
            return super().handle(message)
        return None

    def sweep_requested(self, request: m.SweepRequested) -> None:
        self.recreate_missing |= request.recreate_missing

    def cycle(self) -> None:
        recreate_missing, self.recreate_missing = self.recreate_missing, False
        self.corrected = 0
        try:
            self.announce()
            self.usernames.sync(self.waldur)
            self.wait(self.backend.cycle_started(self.role))
            resources = self._resources()
            if resources:
                round_ = self._round()
            # An upstream plugin syncs the accounts itself, as upstream does (actors/upstream).
            # Listed before any resource: without them, the diff would unlink every account.
            accounts = self._project_accounts() if resources and not self.upstream else {}
        except (WaldurError, WaldurUnreachable) as exc:
            self.finished(error=str(exc))
            return
        if recreate_missing:
            self._recreate_missing(resources)
        failed = 0
        for resource in resources:
            if self.stopping:
                break
            failed += not self.sync_resource(resource, accounts, round_)
        self.finished(
            error=f"{failed} resource(s) failed" if failed else None,
            summary=f"{len(resources)} resource(s) in sync, {self.corrected} correction(s)",
            fixed=self.corrected,
        )

    def sync_dirty(self) -> None:
        dirty, held = self.dirty, self.held
        self.dirty, self.held = Dirty(), []
        try:
            self.usernames.sync(self.waldur)
            self.wait(self.backend.cycle_started(self.role))
            chosen = [r for r in self._resources() if dirty.covers(r)]
            accounts = self._project_accounts() if chosen and not self.upstream else {}
            if chosen:
                round_ = self._round()
            for resource in chosen:
                if self.stopping:
                    return  # not acknowledged: the broker delivers them again
                self.sync_resource(resource, accounts, round_)
        except (WaldurError, WaldurUnreachable) as exc:
            self.log.warning(
                "%d event(s) not applied now (the next sweep will): %s", len(held), exc
            )
        for event in held:
            m.acknowledge(event)

    def _round(self) -> Round:
        """Hand the offering to the plugins, and before the teams: the offering's users'
        profiles to the username plugin, and, with `username_reconciliation_enabled`, the
        usernames the backend assigned to the offering users here."""
        offering = hand_over_offering(self.waldur, self.backend, self.context.uuid)
        round_ = Round(self.waldur, self.context, self.caps, offering)
        self.usernames.push_profiles(round_.offering_users())
        # An upstream plugin reconciles usernames itself, with its Waldur client (the adapter).
        reconcile = self.offering.username_reconciliation_enabled and not self.upstream
        if reconcile and reconcile_usernames(
            self.waldur, self.plugin, round_.offering_users(), self.log
        ):
            round_.forget_offering_users()
        return round_

    def _recreate_missing(self, resources: list[Resource]) -> None:
        """Waldur asked for a forced resync (the backend lost its accounts): each resource the
        backend lacks is created again under its backend id; one that cannot be is Erred."""
        for resource in resources:
            if self.stopping:
                return
            try:
                recreated = self.plugin.recreate_missing_resource(waldur_resource(resource))
                if self.wait(recreated):
                    self.corrected += 1
                    self.log.info("resource %s was missing: created again", resource.backend_id)
            except (WaldurError, WaldurUnreachable) as exc:
                self.log.warning("resource %s not recreated: %s", resource.backend_id, exc)
            except Exception as exc:
                message, trace = self.waldur_error(exc)
                self.log.error("resource %s not recreated: %s", resource.backend_id, said(exc))
                with contextlib.suppress(WaldurError, WaldurUnreachable):
                    self.waldur.resources.set_erred(resource.uuid, message, trace).get()

    def _resources(self) -> list[Resource]:
        return [
            r
            for r in self.waldur.resources.of_offering(self.context.uuid, self.states).get()
            if r.backend_id
        ]

    def sync_resource(
        self, resource: Resource, accounts: dict[str, set[str]], round_: Round
    ) -> bool:
        """Bring one resource in line with Waldur; False (and the resource Erred) on failure."""
        try:
            self._sync(resource, accounts.get(resource.project_uuid or "", set()), round_)
            return True
        except (WaldurError, WaldurUnreachable) as exc:
            self.log.warning("resource %s not synced: %s", resource.backend_id, exc)
        except Exception as exc:
            message, trace = self.waldur_error(exc)
            self.log.error("resource %s failed to sync: %s", resource.backend_id, said(exc))
            with contextlib.suppress(WaldurError, WaldurUnreachable):
                self.waldur.resources.set_erred(resource.uuid, message, trace).get()
        return False

    def _sync(self, resource: Resource, account_usernames: set[str], round_: Round) -> None:
        if self.upstream:
            self._sync_upstream(resource)
            return
        backend_id = resource.backend_id or ""
        target = round_.target(resource)
        info = self.wait(self.plugin.pull_resource(target))
        if info is None:
            self.log.warning("resource %s is in Waldur but not on the backend", backend_id)
            return
        self.wait(self.plugin.sync_resource_project(target))
        team = round_.team(resource)
        if self.reconciles_team:
            self._mirror_team(resource, team_entries(team, round_.offering_users()))
        else:
            self._sync_members(resource, info, team, account_usernames, round_)
        if (round_.offering.plugin_options or {}).get("enable_membership_sync_status"):
            self._report_sync_status(resource, team)
        if resource.paused:
            self.wait(self.plugin.pause_resource(backend_id))
        elif resource.downscaled:
            self.wait(self.plugin.downscale_resource(backend_id))
        else:
            self.wait(self.plugin.restore_resource(backend_id))
        # Limits an admin changed on the backend go to Waldur before anything here writes
        # limits (a prepaid budget, a recovery), which then writes the ones Waldur took.
        target = apply_updates(self.waldur, self.plugin, target, self.log)
        if self.prepaid:
            # A renewal moves end_date on: the budget follows (written only when it differs).
            self.wait(self.plugin.apply_resource_limits(target))
        metadata = self.wait(self.plugin.get_resource_metadata(backend_id))
        if metadata and metadata != (resource.backend_metadata or {}):
            self.waldur.resources.set_backend_metadata(resource.uuid, metadata).get()
        if not resource.restrict_member_access:
            self._sync_user_limits(resource)
        if resource.state == "Erred":
            self._recover(resource)
        self.waldur.resources.refresh_last_sync(resource.uuid).get()

    def _sync_upstream(self, resource: Resource) -> None:
        """An upstream plugin: upstream's membership sequence for the resource (the adapter's
        `sync_resource`), then upstream's end of it: the sync time, and OK for an Erred one."""
        synced = self.wait(self.plugin.sync_resource(waldur_resource(resource)))
        if not synced:
            self.log.warning("resource %s is in Waldur but not on the backend", resource.backend_id)
            return
        self.waldur.resources.refresh_last_sync(resource.uuid).get()
        if resource.state == "Erred":
            self.waldur.resources.set_ok(resource.uuid).get()
            self.corrected += 1

    def _recover(self, resource: Resource) -> None:
        """Erred to OK after a clean sync. What made it Erred (an order failing half-way) may
        have left other limits on the backend than Waldur's, so they are set again (harmless).
        Read afresh: the sweep's list may be minutes old, and an order done since then has set
        newer limits that the listed ones would overwrite."""
        fresh = self.waldur.resources.get(resource.uuid).get()
        if fresh.state != "Erred":
            return
        self.wait(self.plugin.apply_resource_limits(waldur_resource(fresh)))
        self.waldur.resources.set_ok(resource.uuid).get()
        self.corrected += 1

    def _sync_members(
        self,
        resource: Resource,
        info: BackendResourceInfo,
        team: list[TeamMember],
        account_usernames: set[str],
        round_: Round,
    ) -> None:
        """Link the users Waldur wants and the backend lacks, unlink those it no longer wants.

        A resource with `restrict_member_access` wants no members: those linked lose access,
        as upstream removes them; the project's service and course accounts stay linked
        (upstream adds them after its member diff, restricted or not)."""
        backend_id = resource.backend_id or ""
        wanted = set(account_usernames)
        if not resource.restrict_member_access:
            wanted |= {
                t.offering_user_username
                for t in team
                if t.offering_user_username
                and is_linked(t.offering_user_username, t.offering_user_state)
            }
        existing = set(info.users)
        stale = existing - wanted
        missing = wanted - existing
        if missing:
            details = member_details(team_entries(team, round_.offering_users()), resource)
            added = self.wait(self.plugin.add_users_to_resource(backend_id, missing, **details))
            self.corrected += len(added or ())
            self.log.info("added %s to %s", ", ".join(sorted(missing)), backend_id)
        if stale:
            removed = self.wait(self.plugin.remove_users_from_resource(backend_id, stale))
            self.corrected += len(removed or ())
            self.log.info("removed %s from %s", ", ".join(sorted(stale)), backend_id)
        self.wait(self.plugin.process_existing_users(existing & wanted))

    def _report_sync_status(self, resource: Resource, team: list[TeamMember]) -> None:
        """The offering asks (`enable_membership_sync_status`) which grants landed: the plugin
        says, per member the resource should hold, and Waldur shows it on the resource. Best
        effort, as upstream: a failure is logged and the sync goes on."""
        members = {
            t.offering_user_username: t
            for t in team
            if t.offering_user_username
            and t.role
            and is_linked(t.offering_user_username, t.offering_user_state)
            and not resource.restrict_member_access
        }
        try:
            asked = self.plugin.membership_sync_states(resource.backend_id or "", set(members))
            states = self.wait(asked)
            if states is None:
                return  # the backend cannot tell: nothing is reported, as upstream
            report = [
                {
                    "username": username,
                    "user_uuid": members[username].uuid,
                    "scope_type": "resource",
                    "role_name": members[username].role,
                    "state": state,
                }
                for username, state in sorted(states.items())
                if username in members
            ]
            self.waldur.resources.set_membership_sync_statuses(resource.uuid, report).get()
        except (WaldurError, WaldurUnreachable, BackendError) as exc:
            self.log.warning("membership sync status of %s not reported: %s", resource.uuid, exc)

    def _mirror_team(self, resource: Resource, team: list[dict[str, Any]]) -> None:
        """The plugin mirrors the whole team itself (the federation: who a member is on Waldur B
        takes more than their username here, so the plugin does the diff and decides who counts:
        linked members, or, through B's identity bridge, everyone)."""
        mirrored = self.plugin.sync_resource_team(
            resource.backend_id or "", team, not resource.restrict_member_access
        )
        added, removed = self.wait(mirrored)
        self.corrected += len(added) + len(removed)
        if added:
            self.log.info("added %s to %s", ", ".join(sorted(added)), resource.backend_id)
        if removed:
            self.log.info("removed %s from %s", ", ".join(sorted(removed)), resource.backend_id)

    def _project_accounts(self) -> dict[str, set[str]]:
        """Project uuid -> usernames of its open service and course accounts."""
        names: dict[str, set[str]] = {}
        offerings = self.waldur.offerings
        for getter in (offerings.service_accounts, offerings.course_accounts):
            try:
                accounts = getter(self.context.uuid).get()
            except WaldurError as exc:
                if exc.status in (403, 404):
                    continue  # a Waldur without accounts for this offering
                raise
            for account in accounts:
                if account.username and account.project_uuid and account.state == "OK":
                    names.setdefault(account.project_uuid, set()).add(account.username)
        return names

    def _sync_user_limits(self, resource: Resource) -> None:
        """Waldur's per-user limits onto the backend, and a limit Waldur no longer holds
        cleared there (set to none), as upstream does."""
        limits: dict[str, dict[str, float]] = {}
        for item in self.waldur.usages.user_limits(resource.uuid).get():
            if item.limit is not None:
                limits.setdefault(item.user, {})[item.component_type] = float(item.limit)
        backend_id = resource.backend_id or ""
        on_backend = self.wait(self.plugin.get_resource_user_limits(backend_id))
        for username in sorted(set(on_backend) - set(limits)):
            if on_backend[username]:
                limits[username] = {}
        for username, user_limits in sorted(limits.items()):
            self.wait(self.plugin.set_resource_user_limits(backend_id, username, user_limits))
