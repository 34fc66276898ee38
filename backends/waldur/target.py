"""Waldur B's objects as this plugin uses them: the offering, projects, resources, orders, usage,
and this agent's event queue there. Reads and creations only; decisions are the backend's."""

from __future__ import annotations

from typing import Any

from waldur_site_agent_actors.backends.waldur.http import TargetApi, TargetError
from waldur_site_agent_actors.backends.waldur.models import (
    ComponentUsage,
    ComponentUserUsage,
    Customer,
    Identity,
    Offering,
    OfferingUser,
    OptionsAnswer,
    Order,
    OrderReference,
    Plan,
    Project,
    Queue,
    Resource,
)
from waldur_site_agent_actors.backends.waldur.settings import WaldurSettings

IN_FLIGHT_STATES = ("pending-consumer", "pending-provider", "pending-start-date", "executing")


class WaldurB:
    def __init__(self, api: TargetApi, settings: WaldurSettings) -> None:
        self.api = api
        self.offering_uuid = settings.target_offering_uuid
        self.customer_uuid = settings.target_customer_uuid

    def offering(self) -> Offering:
        return self.api.get(f"marketplace-public-offerings/{self.offering_uuid}/", Offering)

    def customer(self) -> Customer:
        return self.api.get(f"customers/{self.customer_uuid}/", Customer)

    def project(
        self, backend_id: str, name: str, description: str, end_date: str | None = None
    ) -> Project:
        """The customer's project with this backend id, created on first use (with `end_date`;
        an existing project's end date is the end-date sync's business)."""
        found = self.find_project(backend_id)
        if found is not None:
            return found
        body = {
            "name": name,
            "customer": self.api.url(f"customers/{self.customer_uuid}/"),
            "backend_id": backend_id,
            "description": description,
        }
        if end_date:
            body["end_date"] = end_date
        return self.api.post("projects/", body, Project)

    def find_project(self, backend_id: str) -> Project | None:
        found = self.api.list(
            "projects/", Project, {"backend_id": backend_id, "customer_uuid": self.customer_uuid}
        )
        return found[0] if found else None

    def set_project_end_date(self, project_uuid: str, end_date: str | None) -> None:
        self.api.send(f"projects/{project_uuid}/", {"end_date": end_date}, method="PATCH")

    def set_resource_end_date(self, resource_uuid: str, end_date: str | None) -> None:
        path = f"marketplace-resources/{resource_uuid}/set_end_date/"
        self.api.send(path, {"end_date": end_date})

    def offering_usernames(self) -> dict[str, str]:
        """Waldur username -> the username B's offering gave that user (its OK offering users)."""
        found = self.api.list(
            "marketplace-offering-users/",
            OfferingUser,
            {"offering_uuid": self.offering_uuid, "state": "OK", "is_restricted": "false"},
        )
        return {u.user_username: u.username for u in found if u.user_username and u.username}

    def order(self, project: Project, limits: dict[str, int], attributes: dict[str, Any]) -> Order:
        """A Create order in `project` for the offering, on its first plan if it has plans."""
        body: dict[str, Any] = {
            "offering": self.api.url(f"marketplace-public-offerings/{self.offering_uuid}/"),
            "project": project.url,
            "limits": limits,
            "attributes": attributes,
        }
        plans = self.api.list(
            "marketplace-public-plans/", Plan, {"offering_uuid": self.offering_uuid}
        )
        if plans:
            body["plan"] = plans[0].url
        return self.api.post("marketplace-orders/", body, Order)

    def get_order(self, uuid: str) -> Order:
        return self.api.get(f"marketplace-orders/{uuid}/", Order)

    def in_flight_order(self, resource_uuid: str, order_type: str) -> Order | None:
        orders = self.api.list(
            "marketplace-orders/",
            Order,
            {"resource_uuid": resource_uuid, "type": order_type, "state": list(IN_FLIGHT_STATES)},
        )
        return orders[0] if orders else None

    def update_limits(self, resource_uuid: str, limits: dict[str, int]) -> str:
        path = f"marketplace-resources/{resource_uuid}/update_limits/"
        return self.api.post(path, {"limits": limits}, OrderReference).order_uuid

    def update_options(self, resource_uuid: str, options: dict[str, Any]) -> str | None:
        """The B order that carries the change, or None when B set the options directly."""
        path = f"marketplace-resources/{resource_uuid}/update_options/"
        return self.api.post(path, {"options": options}, OptionsAnswer).order_uuid

    def terminate(self, resource_uuid: str) -> str:
        path = f"marketplace-resources/{resource_uuid}/terminate/"
        return self.api.post(path, {}, OrderReference).order_uuid

    def resource(self, uuid: str) -> Resource | None:
        """None when B has no such resource (or the id is not one of B's)."""
        if not uuid:
            return None
        try:
            return self.api.get(f"marketplace-resources/{uuid}/", Resource)
        except TargetError as exc:
            if exc.status in (400, 404):
                return None
            raise

    def resources(self) -> list[Resource]:
        return self.api.list(
            "marketplace-resources/", Resource, {"offering_uuid": self.offering_uuid}
        )

    def usage(
        self, resource_uuid: str, period: str
    ) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
        """(component totals, per-username component amounts) of one billing month."""
        totals: dict[str, float] = {}
        query = {"resource_uuid": resource_uuid, "billing_period": period}
        for item in self.api.list("marketplace-component-usages/", ComponentUsage, query):
            totals[item.type] = totals.get(item.type, 0.0) + item.usage
        per_user: dict[str, dict[str, float]] = {}
        query = {"resource_uuid": resource_uuid, "component_usage_billing_period": period}
        for user in self.api.list("marketplace-component-user-usages/", ComponentUserUsage, query):
            amounts = per_user.setdefault(user.username, {})
            amounts[user.component_type] = amounts.get(user.component_type, 0.0) + user.usage
        return totals, per_user

    def order_queue(self, proxy: str = "") -> Queue:
        """This agent's queue of the offering's order events (registration is idempotent),
        registered through `proxy` when given (the agent's `global_proxy`, as upstream).

        The identity is this agent's own, `federation-<customer>`, never `agent-<offering>`:
        that is B's own agent's, whose queue this agent would share and steal messages from.
        """
        api = self.api.through(proxy) if proxy else self.api
        name = f"federation-{self.customer_uuid}"
        found = api.list(
            "marketplace-site-agent-identities/",
            Identity,
            {"name": name, "offering_uuid": self.offering_uuid},
        )
        identity = (
            found[0]
            if found
            else api.post(
                "marketplace-site-agent-identities/",
                {"offering": self.offering_uuid, "name": name},
                Identity,
            )
        )
        return api.post(
            f"marketplace-site-agent-identities/{identity.uuid}/register_queue/",
            {"object_types": ["order"]},
            Queue,
        )
