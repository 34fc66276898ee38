"""The federation plugin: resources of this offering are resources of an offering on Waldur B.

Orders become orders on Waldur B, placed by this agent as a consumer there (in one B project per
project here, found again by `backend_id = <customer uuid>_<project uuid>`), and are non-blocking:
the order here stays executing until `check_pending_order` sees B's order finished. A resource's
backend id here is its UUID on B; what B's provider named it there becomes its effective id here.
Usage is read from B and converted back to the components here; each B project's team mirrors
the team of its project here; end dates go both ways and limits B's provider changed come back
(`waldur_updates`); usernames B's offering gave its users come back too (`assigned_usernames`).
Nothing is stored locally: users already resolved and B orders in flight are only remembered to
spare calls.
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlparse

import msgspec

from waldur_site_agent_actors.backends import backend_ids
from waldur_site_agent_actors.backends.base import LIMITED, BaseBackend, UserContext
from waldur_site_agent_actors.backends.component_mapping import ComponentMapper
from waldur_site_agent_actors.backends.exceptions import (
    BackendError,
    BackendNotReadyError,
    ConfigurationError,
)
from waldur_site_agent_actors.backends.structures import (
    TOTAL_ACCOUNT_USAGE,
    BackendResourceInfo,
    ClientResource,
    ResourceUsage,
    UsageReport,
    WaldurResource,
    WaldurUpdates,
)
from waldur_site_agent_actors.backends.subscriptions import BrokerQueue
from waldur_site_agent_actors.backends.waldur import end_dates
from waldur_site_agent_actors.backends.waldur.http import TargetApi, TargetError
from waldur_site_agent_actors.backends.waldur.members import NO_SOURCE, Members, members
from waldur_site_agent_actors.backends.waldur.models import Order, ProjectRole, Resource
from waldur_site_agent_actors.backends.waldur.settings import WaldurSettings
from waldur_site_agent_actors.backends.waldur.target import WaldurB

FINAL_STATES = frozenset({"done", "erred", "canceled", "rejected"})
OWNER_ATTRIBUTE = "waldur_site_agent_owner"
"""Attribute of the B order (B copies order attributes to its resource) naming the resource
here that it was created for: the owner record."""
BUSY_STATES = frozenset({"Creating", "Updating", "Terminating"})


class WaldurBackend(BaseBackend):
    supports_async_orders = True
    reconciles_team = True
    """The core hands over the whole team (`sync_resource_team`) rather than a username diff:
    who a user is on B takes more than their username here."""

    def __init__(
        self, backend_settings: dict[str, Any], backend_components: dict[str, dict[str, Any]]
    ) -> None:
        super().__init__(backend_settings, backend_components)
        self.backend_type = "waldur"
        try:
            self.settings = s = msgspec.convert(backend_settings, WaldurSettings)
        except msgspec.ValidationError as exc:
            raise ConfigurationError(f"backend_settings: {exc}") from exc
        for key, component in self.backend_components.items():
            if float(component.get("unit_factor") or 1) != 1:
                raise ConfigurationError(
                    f"component {key!r}: unit_factor must be 1 for the waldur backend; "
                    "convert with target_components.<name>.factor"
                )
        self.mapper = ComponentMapper(self.backend_components)
        api = TargetApi(
            s.target_api_url,
            s.target_api_token,
            verify_ssl=s.target_verify_ssl,
            timeout=s.target_timeout,
        )
        self.b = WaldurB(api, s)
        self.members = Members(api, s)
        self.in_flight: set[str] = set()
        """Waldur B orders that an order here waits for."""
        self.target_events_enabled = s.target_stomp_enabled
        self.target_poll_seconds = s.order_poll_interval
        # Read by the core, as upstream's duck-typed flags: the team comes consent-filtered,
        # over every resource of the project (they all share one B project), and the project's
        # end-date change time is read for the last-change-wins end-date sync.
        self.fetch_consented_users_only = s.fetch_consented_users_only
        self.shared_project_membership = True
        self.requires_source_project = s.end_date_sync_direction == "bidirectional"
        if s.user_resolve_method == "identity_bridge" and not s.identity_bridge_source:
            self.log.error("%s", NO_SOURCE)

    # -- health ---------------------------------------------------------------------------------

    def ping(self, raise_exception: bool = False) -> bool:
        return self._reachable(
            "Waldur B", lambda: (self.b.offering(), self.b.customer()), raise_exception
        )

    def diagnostics(self) -> bool:
        ok = self.ping()
        if self.settings.user_resolve_method == "identity_bridge" and self.members.bridge is None:
            self.log.error("%s", NO_SOURCE)
            ok = False
        self.log.info(
            "Waldur B %s: offering %r, customer %r, users found by %s (%s); components %s",
            self.b.api.api_url,
            self.b.offering().name if ok else self.settings.target_offering_uuid,
            self.b.customer().name if ok else self.settings.target_customer_uuid,
            self.settings.user_resolve_method,
            self.members.field,
            self.mapper.describe(),
        )
        return ok

    def list_components(self) -> list[str]:
        return sorted(self.backend_components)

    # -- orders ---------------------------------------------------------------------------------

    def resource_backend_id(self, waldur_resource: WaldurResource) -> str:
        """Unknown before B creates the resource: its UUID there becomes the backend id."""
        return ""

    def backend_id_owner(self, backend_id: str) -> str | None:
        resource = self.b.resource(backend_id)
        if resource is None or resource.state == "Terminated":
            return None
        return backend_ids.owner_in(str((resource.attributes or {}).get(OWNER_ATTRIBUTE, "")))

    def _collect_resource_limits(
        self, waldur_resource: WaldurResource
    ) -> tuple[dict[str, int], dict[str, float]]:
        limits = {
            key: float(value)
            for key, value in waldur_resource.limits.items()
            if key in self.backend_components
        }
        return self.mapper.limits_to_target(limits), limits

    def _pre_create_resource(
        self, waldur_resource: WaldurResource, user_context: UserContext | None = None
    ) -> None:
        """Learn who the team is, for the core's `add_users_to_resource` right after."""
        if not waldur_resource.project_uuid:
            raise BackendError(f"resource {waldur_resource.uuid} has no project")
        self.members.remember(members((user_context or {}).get("team", [])))

    def create_resource_with_id(
        self,
        waldur_resource: WaldurResource,
        backend_id: str,
        user_context: UserContext | None = None,
    ) -> BackendResourceInfo:
        """A Create order on B; the resource is done here when that order is done there."""
        self._pre_create_resource(waldur_resource, user_context)
        adopted = self._adopt(backend_id)
        if adopted is not None:
            return adopted
        res = waldur_resource
        project = self.b.project(
            f"{res.customer_uuid}_{res.project_uuid}",
            res.project_name or res.project_uuid,
            f"{res.customer_name} / {res.project_name}",
            res.project_end_date if self.settings.end_date_sync_direction != "disabled" else None,
        )
        limits, _ = self._collect_resource_limits(res)
        attributes = {
            key: res.attributes[key]
            for key in self.settings.passthrough_attributes
            if key in res.attributes
        }
        attributes["name"] = res.name or res.slug or res.uuid
        attributes[OWNER_ATTRIBUTE] = backend_ids.owner_tag(res.uuid)
        if res.end_date:  # B's resource ends when this one does (as upstream, in any direction)
            attributes["end_date"] = res.end_date
        order = self.b.order(project, limits, attributes)
        if not order.marketplace_resource_uuid:
            raise BackendError(f"Waldur B order {order.uuid} names no resource")
        self.in_flight.add(order.uuid)
        self.log.info(
            "resource %s: Waldur B order %s creates resource %s in project %s, limits %s",
            res.uuid,
            order.uuid,
            order.marketplace_resource_uuid,
            project.uuid,
            limits,
        )
        return BackendResourceInfo(
            backend_id=order.marketplace_resource_uuid, pending_order_id=order.uuid, limits=limits
        )

    def _adopt(self, backend_id: str) -> BackendResourceInfo | None:
        """A B resource still being created for this one (a run stopped half-way): wait for it."""
        resource = self.b.resource(backend_id)
        if resource is None or resource.state != "Creating":
            return None
        order = self.b.in_flight_order(resource.uuid, "Create")
        if order is None:
            return None
        self.in_flight.add(order.uuid)
        return BackendResourceInfo(backend_id=resource.uuid, pending_order_id=order.uuid)

    def check_pending_order(self, order_backend_id: str) -> bool:
        try:
            order = self.b.get_order(order_backend_id)
        except TargetError as exc:
            self.in_flight.discard(order_backend_id)
            if exc.status == 404:
                raise BackendError(f"order {order_backend_id} is gone from Waldur B") from exc
            raise
        if order.state in FINAL_STATES:
            self.in_flight.discard(order.uuid)
            if order.state == "done":
                return True
            raise BackendError(failure(order))
        timeout = self.settings.order_poll_timeout
        if timeout and _age(order) > timeout:
            self.in_flight.discard(order.uuid)
            raise BackendError(
                f"order {order.uuid} on Waldur B is still {order.state} after {timeout:g} s "
                "(order_poll_timeout)"
            )
        self.in_flight.add(order.uuid)
        return False

    def settled_target_orders(self) -> list[str]:
        """B orders in flight that finished since the last look; each is reported once."""
        settled = []
        for uuid in sorted(self.in_flight):
            try:
                finished = self.b.get_order(uuid).state in FINAL_STATES
            except TargetError:
                finished = True  # gone: `check_pending_order` tells the order here
            if finished:
                settled.append(uuid)
        self.in_flight.difference_update(settled)
        return settled

    def set_resource_limits(self, resource_backend_id: str, limits: dict[str, float]) -> str | None:
        """An Update order on B for the converted limits: its UUID, or None if B has them.
        Only limit components' limits go (a soft delete zeroes every component): B refuses a
        limit for a usage component's targets."""
        owned = self.backend_owned_limits()
        wanted = self.mapper.limits_to_target({k: v for k, v in limits.items() if k in owned})
        resource = self._resource(resource_backend_id)
        pending = self.b.in_flight_order(resource.uuid, "Update")
        if pending is not None:
            return self._waiting(pending.uuid)
        current = resource.limits or {}
        if all(k in current and float(current[k]) == v for k, v in wanted.items()):
            return None
        self._not_busy(resource)
        order = self.b.update_limits(resource.uuid, wanted)
        self.log.info("resource %s: limits %s asked of Waldur B (%s)", resource.uuid, wanted, order)
        return self._waiting(order)

    def set_resource_options(
        self, waldur_resource: WaldurResource, new_options: dict[str, Any]
    ) -> str | None:
        """The same options on B's resource, unchanged: A's and B's offerings ask for them by
        the same names. B's Update order when its offering makes one, else None."""
        resource = self._resource(waldur_resource.backend_id)
        pending = self.b.in_flight_order(resource.uuid, "Update")
        if pending is not None:
            return self._waiting(pending.uuid)
        current = resource.options or {}
        if all(k in current and current[k] == v for k, v in new_options.items()):
            return None
        self._not_busy(resource)
        order = self.b.update_options(resource.uuid, new_options)
        self.log.info(
            "resource %s: options %s asked of Waldur B (%s)",
            resource.uuid,
            ", ".join(sorted(new_options)),
            order or "set directly",
        )
        return self._waiting(order) if order else None

    def delete_resource(self, waldur_resource: WaldurResource, **kwargs: Any) -> str | None:
        """A Terminate order on B: its UUID, or None when nothing is left there. With
        `soft_delete`, an Update order setting B's limits to zero, and B's resource stays."""
        resource = self.b.resource(waldur_resource.backend_id)
        if resource is None or resource.state == "Terminated":
            self.log.info("%r is not on Waldur B: nothing to delete", waldur_resource.backend_id)
            return None
        if self.soft_deletes:
            return self.soft_delete_resource(waldur_resource)
        pending = self.b.in_flight_order(resource.uuid, "Terminate")
        if pending is not None:
            return self._waiting(pending.uuid)
        self._not_busy(resource)
        order = self.b.terminate(resource.uuid)
        self.log.info("resource %s: termination asked of Waldur B (%s)", resource.uuid, order)
        return self._waiting(order)

    def _waiting(self, order_uuid: str) -> str:
        self.in_flight.add(order_uuid)
        return order_uuid

    @staticmethod
    def _not_busy(resource: Resource) -> None:
        if resource.state in BUSY_STATES:
            raise BackendNotReadyError(f"resource {resource.uuid} on Waldur B is {resource.state}")

    # -- resources ------------------------------------------------------------------------------

    def pull_resource(self, waldur_resource: WaldurResource) -> BackendResourceInfo | None:
        """The B resource once it exists there (created, not terminated); None otherwise."""
        resource = self.b.resource(waldur_resource.backend_id)
        if resource is None or resource.state in ("Creating", "Terminated"):
            return None
        return BackendResourceInfo(backend_id=resource.uuid, parent_id=resource.project_uuid or "")

    def waldur_updates(self, waldur_resource: WaldurResource) -> WaldurUpdates:
        """B's side of the resource: its own id there (the effective id here), end dates
        (A's go to B, or B's come here, by `end_date_sync_direction`) and, with
        `limit_sync_direction: b_to_a`, limits B's provider changed."""
        resource = self.b.resource(waldur_resource.backend_id)
        if resource is None:
            return WaldurUpdates()
        s, res = self.settings, waldur_resource
        effective_id = resource.backend_id or ""
        project = (
            self.b.find_project(f"{res.customer_uuid}_{res.project_uuid}")
            if s.end_date_sync_direction != "disabled" and res.project_uuid
            else None
        )
        return WaldurUpdates(
            effective_id=effective_id if effective_id != res.effective_id else msgspec.UNSET,
            end_date=end_dates.resource_end_date(self.b, s.end_date_sync_direction, res, resource),
            project_end_date=end_dates.project_end_date(
                self.b, s.end_date_sync_direction, res, project
            ),
            limits=self._limits_from_b(res, resource.limits or {}),
        )

    def _limits_from_b(
        self, waldur_resource: WaldurResource, target: dict[str, float]
    ) -> dict[str, float] | msgspec.UnsetType:
        if self.settings.limit_sync_direction == "disabled":
            return msgspec.UNSET
        current = {
            key: float(value)
            for key, value in waldur_resource.limits.items()
            if self.backend_components.get(key, {}).get("accounting_type") in LIMITED
        }
        changed = self.mapper.limits_to_source(target, current)
        if not changed:
            return msgspec.UNSET
        self.log.info("resource %s: limits %s taken from Waldur B", waldur_resource.uuid, changed)
        return {**waldur_resource.limits, **changed}

    def assigned_usernames(self) -> dict[str, str]:
        return self.b.offering_usernames()

    def membership_sync_states(
        self, resource_backend_id: str, usernames: set[str]
    ) -> dict[str, str] | None:
        """B's team is matched by its users (identity bridge, `user_match_field`), not by these
        usernames: nothing to report (upstream's federation reports nothing either)."""
        return None

    def list_resources(self) -> list[ClientResource]:
        return [
            ClientResource(
                name=r.uuid,
                description=r.name,
                organization=r.project_uuid or "",
                backend_id=r.uuid,
            )
            for r in self.b.resources()
            if r.state != "Terminated"
        ]

    def get_resource_metadata(self, resource_backend_id: str) -> dict[str, Any]:
        resource = self._resource(resource_backend_id)
        return {
            "waldur_b_resource_uuid": resource.uuid,
            "waldur_b_project_uuid": resource.project_uuid,
            "waldur_b_state": resource.state,
        }

    def pause_resource(self, resource_backend_id: str) -> bool:
        """Not forwarded: pausing is for Waldur B's provider to decide, not its consumers."""
        return False

    def downscale_resource(self, resource_backend_id: str) -> bool:
        """Not forwarded, like pausing."""
        return False

    def restore_resource(self, resource_backend_id: str) -> bool:
        """Not forwarded, like pausing."""
        return False

    def get_resource_user_limits(self, resource_backend_id: str) -> dict[str, dict[str, int]]:
        return {}

    def set_resource_user_limits(
        self, resource_backend_id: str, username: str, limits: dict[str, float]
    ) -> None:
        """Not forwarded: per-user limits on B are set by B's provider."""
        self.log.debug("per-user limits of %s stay here (not forwarded to Waldur B)", username)

    def _resource(self, uuid: str) -> Resource:
        resource = self.b.resource(uuid)
        if resource is None:
            raise BackendError(f"resource {uuid!r} does not exist on Waldur B")
        return resource

    # -- usage ----------------------------------------------------------------------------------

    def get_usage_report(self, resource_backend_ids: list[str]) -> UsageReport:
        """Unlike the default, a resource whose usage B did not give is left out, not zeroed:
        zeros would read as usage going down."""
        return self._get_usage_report(resource_backend_ids)

    def _get_usage_report(self, resource_backend_ids: list[str]) -> UsageReport:
        today = datetime.now(zoneinfo.ZoneInfo(self.timezone)).date()
        return self._usage(resource_backend_ids, today.replace(day=1))

    def get_usage_report_for_period(
        self, resource_backend_ids: list[str], year: int, month: int
    ) -> UsageReport:
        return self._usage(resource_backend_ids, date(year, month, 1))

    def _usage(self, resource_backend_ids: list[str], month: date) -> UsageReport:
        report: UsageReport = {}
        for backend_id in resource_backend_ids:
            try:
                totals, per_user = self.b.usage(backend_id, month.isoformat())
            except BackendError as exc:
                self.log.warning("usage of %s not read from Waldur B: %s", backend_id, exc)
                continue
            usage: ResourceUsage = {TOTAL_ACCOUNT_USAGE: self.mapper.usage_to_source(totals)}
            for username, amounts in per_user.items():
                usage[username] = self.mapper.usage_to_source(amounts)
            report[backend_id] = usage
        return report

    # -- membership -----------------------------------------------------------------------------

    def sync_resource_team(
        self, resource_backend_id: str, team: list[dict[str, Any]], add_missing: bool = True
    ) -> tuple[list[str], list[str]]:
        """Make the team of the resource's B project this team: (added, removed) users."""
        current = members(team)
        self.members.remember(current)
        project = self._resource(resource_backend_id).project_uuid or ""
        return self.members.mirror(project, current, add_missing)

    def add_user(self, resource_backend_id: str, username: str, **kwargs: Any) -> bool:
        member = self.members.known.get(username)
        if member is None:
            raise BackendError(f"{username} is not in the team this agent was given")
        user = self.members.resolve(member)
        if user is None:
            return False
        project = self._resource(resource_backend_id).project_uuid or ""
        role = self.members.role(member)
        if role in self._roles(project).get(user, set()):
            return False
        self.members.add(project, user, role)
        return True

    def remove_user(self, resource_backend_id: str, username: str) -> bool:
        member = self.members.known.get(username)
        user = self.members.resolve(member) if member is not None else None
        if user is None:
            return False
        project = self._resource(resource_backend_id).project_uuid or ""
        roles = self._roles(project).get(user, set())
        for role in sorted(roles):
            self.members.remove(project, user, role)
        return bool(roles)

    def _roles(self, project_uuid: str) -> dict[str, set[str]]:
        roles: dict[str, set[str]] = {}
        for grant in self.b.api.list(f"projects/{project_uuid}/list_users/", ProjectRole):
            roles.setdefault(grant.user_uuid, set()).add(grant.role_name)
        return roles

    # -- events of Waldur B ---------------------------------------------------------------------

    def setup_target_event_subscriptions(
        self, source_offering: Any = None, user_agent: str = "", global_proxy: str = ""
    ) -> list[BrokerQueue]:
        """Where B's order events for this agent wait (registered anew on every call, through
        the agent's `global_proxy`, as upstream registers it; B's other calls go direct)."""
        s = self.settings
        if not s.target_stomp_enabled:
            return []
        queue = self.b.order_queue(global_proxy)
        return [
            BrokerQueue(
                host=s.target_stomp_ws_host or urlparse(s.target_api_url).hostname or "localhost",
                port=s.target_stomp_ws_port or (443 if s.target_websocket_use_tls else 80),
                path=s.target_stomp_ws_path,
                use_tls=s.target_websocket_use_tls,
                vhost=queue.vhost,
                login=queue.rmq_username,
                passcode=s.target_api_token,
                queue=queue.queue_name,
            )
        ]


def failure(order: Order) -> str:
    """Why a B order did not get done, as the user here reads it."""
    if order.state == "rejected":
        comment = order.provider_rejection_comment
        return f"Waldur B's provider rejected order {order.uuid}" + (
            f": {comment}" if comment else ""
        )
    if order.state == "canceled":
        return f"order {order.uuid} was canceled on Waldur B"
    reason = order.error_message or "no reason given"
    return f"Waldur B could not carry out order {order.uuid}: {reason}"


def _age(order: Order) -> float:
    if not order.created:
        return 0.0
    created = datetime.fromisoformat(order.created)
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return (datetime.now(UTC) - created).total_seconds()
