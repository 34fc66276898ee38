"""`user_context`: the Waldur data a plugin may need for a resource, resolved before the call.

Plugins never talk to Waldur; this is what they get instead (team, offering users, SSH keys of
the service provider, plan quotas).
"""

from __future__ import annotations

import threading
from typing import Any

from waldur_site_agent_actors.actors.backend import BackendProxy
from waldur_site_agent_actors.actors.context import OfferingContext
from waldur_site_agent_actors.actors.waldur.api import WaldurApiProxy
from waldur_site_agent_actors.actors.waldur.models import (
    Offering,
    OfferingUser,
    Resource,
    TeamMember,
)
from waldur_site_agent_actors.backends.structures import is_linked

RESOURCE_STATES_WITH_ORDERS = ("Creating", "Updating", "Terminating")


class Lookups:
    """Waldur data that many orders of one sweep share, fetched at most once per sweep.

    A sweep is one order cycle or one event. Within it, the offering, its service provider's
    SSH keys and offering users, a project's team and the resources with orders in flight are
    the same for every order, so asking once per order multiplies HTTP calls for nothing.
    The order lanes of a sweep share one: the first to need a thing fetches it, the others
    wait for it rather than asking again.
    """

    def __init__(
        self, waldur: WaldurApiProxy, backend: BackendProxy, context: OfferingContext
    ) -> None:
        self.waldur, self.backend, self.context = waldur, backend, context
        self._resources: dict[str, Resource] | None = None
        self._teams: dict[str, list[TeamMember]] = {}
        self._offering_users: list[OfferingUser] | None = None
        self._ssh_keys: dict[str, str] | None = None
        self._plans: dict[str, dict[str, Any]] = {}
        self._offering: Offering | None = None
        self._lock = threading.RLock()

    def resource(self, uuid: str | None) -> Resource:
        if not uuid:
            raise ValueError("the order names no resource")
        with self._lock:
            if self._resources is None:
                listed = self.waldur.resources.of_offering(
                    self.context.uuid, RESOURCE_STATES_WITH_ORDERS
                ).get()
                self._resources = {r.uuid: r for r in listed}
            found = self._resources.get(uuid)
        return found if found is not None else self.waldur.resources.get(uuid).get()

    def team(self, resource: Resource) -> list[TeamMember]:
        key = resource.project_uuid or resource.uuid
        with self._lock:
            if key not in self._teams:
                self._teams[key] = self.waldur.resources.team(resource.uuid).get()
            return self._teams[key]

    def plan_quotas(self, plan_uuid: str | None) -> dict[str, Any]:
        if not plan_uuid:
            return {}
        with self._lock:
            if plan_uuid not in self._plans:
                self._plans[plan_uuid] = dict(self.waldur.offerings.plan(plan_uuid).get().quotas)
            return self._plans[plan_uuid]

    def offering(self) -> Offering:
        """The offering, read once per sweep; its partitions and plugin options are handed to
        the plugins, which act on them and never ask Waldur themselves."""
        with self._lock:
            if self._offering is None:
                self._offering = hand_over_offering(self.waldur, self.backend, self.context.uuid)
            return self._offering

    def offering_users(self) -> list[OfferingUser]:
        with self._lock:
            if self._offering_users is None:
                users = self.waldur.offering_users.of_offering(self.context.uuid).get()
                self._offering_users = users
            return self._offering_users

    def ssh_keys(self) -> dict[str, str]:
        with self._lock:
            return self._fetch_ssh_keys()

    def _fetch_ssh_keys(self) -> dict[str, str]:
        if self._ssh_keys is None:
            self._ssh_keys = {}
            offering = self.offering()
            provider = (
                self.waldur.offerings.service_provider(offering.customer_uuid).get()
                if offering.customer_uuid
                else None
            )
            if provider:
                self.backend.set_service_provider(provider)
                for key in self.waldur.offerings.provider_ssh_keys(provider).get():
                    self._ssh_keys[key.uuid] = key.public_key
        return self._ssh_keys

    def user_context(self, resource: Resource) -> dict[str, Any]:
        team = self.team(resource)
        team_uuids = {member.uuid for member in team}
        return {
            "team": team_entries(team, self.offering_users()),
            "offering_users": [
                {"uuid": u.uuid, "user_uuid": u.user_uuid, "username": u.username, "state": u.state}
                for u in self.offering_users()
                if u.user_uuid in team_uuids
            ],
            "ssh_keys": self.ssh_keys(),
            "plan_quotas": self.plan_quotas(resource.plan_uuid),
        }


def team_entries(team: list[TeamMember], offering_users: list[OfferingUser]) -> list[Any]:
    """The team as plugins get it: each member with their offering user's name and state, and
    the profile Waldur shows the provider (`attributes`)."""
    profiles = {u.user_uuid: profile_of(u) for u in offering_users if u.user_uuid}
    return [
        {
            "uuid": t.uuid,
            "username": t.username,
            "full_name": t.full_name,
            "email": t.email,
            "role": t.role,
            "offering_user_username": t.offering_user_username,
            "offering_user_state": t.offering_user_state,
            "attributes": profiles.get(t.uuid, {}),
        }
        for t in team
    ]


PROFILE_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "organization",
    "affiliations",
    "phone_number",
    "civil_number",
    "personal_title",
    "place_of_birth",
    "country_of_residence",
    "nationality",
    "nationalities",
    "organization_country",
    "organization_type",
    "eduperson_assurance",
    "identity_source",
    "gender",
    "birth_date",
)
"""An offering user's `user_<field>`s a plugin may pass on (the identity bridge's fields)."""


def profile_of(offering_user: OfferingUser) -> dict[str, Any]:
    """The offering user's profile as Waldur shows it to the provider, empty fields left out."""
    found = {name: getattr(offering_user, f"user_{name}") for name in PROFILE_FIELDS}
    return {name: value for name, value in found.items() if value not in (None, "", [])}


def hand_over_offering(
    waldur: WaldurApiProxy, backend: BackendProxy, offering_uuid: str
) -> Offering:
    offering = waldur.offerings.get(offering_uuid).get()
    backend.set_offering_details(offering.partition_names, offering.plugin_options or {}).get()
    return offering


def member_details(
    team: list[dict[str, Any]], resource: Resource | None = None
) -> dict[str, dict[str, Any]]:
    """`add_users_to_resource` keyword arguments for the linked members of a team (upstream's
    `user_emails`, `user_attributes` with the profile Waldur shows the provider, and
    `user_cuids`: each member's Waldur username, their CUID), so a backend that registers
    accounts itself (MUP) can, and the resource's order `attributes` (`resource_attributes`:
    SLURM grants the QoS and partition a customer chose there)."""
    linked = [
        t for t in team if is_linked(t.get("offering_user_username"), t.get("offering_user_state"))
    ]
    return {
        "user_emails": {t["offering_user_username"]: t["email"] for t in linked if t.get("email")},
        "user_attributes": {
            t["offering_user_username"]: {
                "email": t.get("email") or "",
                "full_name": t.get("full_name") or "",
                **(t.get("attributes") or {}),
            }
            for t in linked
        },
        "user_cuids": {
            t["offering_user_username"]: t["username"] for t in linked if t.get("username")
        },
        "resource_attributes": dict((resource.attributes if resource else None) or {}),
    }
