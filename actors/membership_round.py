"""What one membership sweep (or one event) reads of Waldur once and shares between resources:
the offering's users, the (consented) team of each project, project end dates."""

from __future__ import annotations

from typing import Any

import msgspec

from waldur_site_agent_actors.actors.context import OfferingContext
from waldur_site_agent_actors.actors.convert import waldur_resource
from waldur_site_agent_actors.actors.waldur.api import WaldurApiProxy
from waldur_site_agent_actors.actors.waldur.models import (
    Offering,
    OfferingUser,
    Resource,
    TeamMember,
)
from waldur_site_agent_actors.backends.structures import WaldurResource


class Round:
    def __init__(
        self,
        waldur: WaldurApiProxy,
        context: OfferingContext,
        caps: dict[str, Any],
        offering: Offering,
    ) -> None:
        self.waldur, self.context, self.caps, self.offering = waldur, context, caps, offering
        self._users: list[OfferingUser] | None = None
        self._teams: dict[str, list[TeamMember]] = {}
        self._provider: str | None = None

    def offering_users(self) -> list[OfferingUser]:
        if self._users is None:
            self._users = self.waldur.offering_users.of_offering(self.context.uuid).get()
        return self._users

    def forget_offering_users(self) -> None:
        """Their usernames changed: read them again when next needed."""
        self._users = None

    def team(self, resource: Resource) -> list[TeamMember]:
        """The resource's team; with a plugin's `fetch_consented_users_only`, only who
        consented to the offering, and where the project's resources share one backend project
        (`shared_project_membership`), who consented to any of them (as upstream)."""
        if not self.caps["consented_team_only"]:
            return list(self.waldur.resources.team(resource.uuid).get())
        key = resource.project_uuid or resource.uuid
        if key not in self._teams:
            siblings = [resource.uuid]
            if self.caps["shared_project_membership"] and resource.project_uuid:
                states = self.caps["handled_resource_states"]
                found = self.waldur.resources.of_project(resource.project_uuid, states).get()
                siblings += [r.uuid for r in found if r.uuid != resource.uuid]
            merged: dict[str, TeamMember] = {}
            for uuid in siblings:
                for member in self.waldur.resources.team(uuid, consented_only=True).get():
                    merged.setdefault(member.uuid, member)
            self._teams[key] = list(merged.values())
        return self._teams[key]

    def target(self, resource: Resource) -> WaldurResource:
        """The resource as the plugin gets it, with its project's end-date change time when the
        plugin needs it (`requires_source_project`)."""
        target = waldur_resource(resource)
        if not self.caps["requires_source_project"] or not resource.project_uuid:
            return target
        if self._provider is None:
            customer = self.offering.customer_uuid or ""
            self._provider = self.waldur.offerings.service_provider(customer).get() or ""
        if not self._provider:
            return target
        dates = self.waldur.projects.dates(self._provider, resource.project_uuid).get()
        if dates is None:
            return target
        return msgspec.structs.replace(
            target,
            project_end_date=dates.end_date,
            project_end_date_updated_at=dates.end_date_updated_at,
        )
