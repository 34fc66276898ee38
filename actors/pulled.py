"""What Waldur takes from a backend that is itself the source of truth for part of a resource
(the federation's Waldur B): its effective id, end dates and limits (`waldur_updates`), and the
usernames the backend gave its users (`username_reconciliation_enabled`)."""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from waldur_site_agent_actors.actors.backend import PluginProxy
from waldur_site_agent_actors.actors.convert import waldur_resource
from waldur_site_agent_actors.actors.offering_child import BACKEND_TIMEOUT
from waldur_site_agent_actors.actors.waldur.api import WaldurApiProxy
from waldur_site_agent_actors.actors.waldur.client import WaldurError
from waldur_site_agent_actors.actors.waldur.models import OfferingUser
from waldur_site_agent_actors.backends.structures import WaldurResource

RECONCILED_STATES = frozenset({"OK", "Creating", "Requested"})
"""Offering users that take a username the backend assigned (Waldur moves the last two to OK)."""


def apply_updates(
    waldur: WaldurApiProxy,
    plugin: PluginProxy,
    resource: WaldurResource,
    log: logging.LoggerAdapter[Any],
) -> WaldurResource:
    """Ask the plugin what Waldur should take for `resource` and set it; the resource with the
    limits Waldur holds now. An end date Waldur refuses to take (a permission) is logged, not a
    failed sync."""
    updates = plugin.waldur_updates(resource).get(timeout=BACKEND_TIMEOUT)
    resources = waldur.resources
    if updates.effective_id is not msgspec.UNSET:
        resources.set_effective_id(resource.uuid, updates.effective_id).get()
        log.info("resource %s: effective id %r", resource.uuid, updates.effective_id)
    if updates.limits is not msgspec.UNSET:
        # `resource` may be a sweep's minutes-old copy: an order done since then changed limits
        # in Waldur that the merged ones would set back. Asked again with Waldur's own.
        fresh = waldur_resource(resources.get(resource.uuid).get())
        limits = plugin.waldur_updates(fresh).get(timeout=BACKEND_TIMEOUT).limits
        resource = msgspec.structs.replace(resource, limits=fresh.limits)
        if limits is not msgspec.UNSET:
            resources.set_limits(resource.uuid, limits).get()
            log.info("resource %s: limits %s from the backend", resource.uuid, limits)
            resource = msgspec.structs.replace(resource, limits=limits)
    if updates.end_date is not msgspec.UNSET:
        try:
            resources.set_end_date(resource.uuid, updates.end_date).get()
            log.info("resource %s: end date %s from the backend", resource.uuid, updates.end_date)
        except WaldurError as exc:
            log.warning("end date of resource %s not set: %s", resource.uuid, exc)
    if updates.project_end_date is not msgspec.UNSET and resource.project_uuid:
        try:
            waldur.projects.set_end_date(resource.project_uuid, updates.project_end_date).get()
            log.info(
                "project %s: end date %s from the backend",
                resource.project_uuid,
                updates.project_end_date,
            )
        except WaldurError as exc:
            log.warning("end date of project %s not set: %s", resource.project_uuid, exc)
    return resource


def reconcile_usernames(
    waldur: WaldurApiProxy,
    plugin: PluginProxy,
    offering_users: list[OfferingUser],
    log: logging.LoggerAdapter[Any],
) -> int:
    """Offering users take the usernames the backend assigned them (matched by their Waldur
    username); returns how many changed."""
    assigned = plugin.assigned_usernames().get(timeout=BACKEND_TIMEOUT)
    changed = 0
    for user in offering_users:
        username = assigned.get(user.user_username or "")
        if not username or user.state not in RECONCILED_STATES or user.username == username:
            continue
        waldur.offering_users.set_username(user.uuid, username).get()
        log.info("offering user %s is now %r, as the backend named it", user.uuid, username)
        changed += 1
    return changed
