"""Component usages (per resource, component and billing month) and per-user usages."""

from __future__ import annotations

from waldur_site_agent_actors.actors.waldur.client import WaldurClient
from waldur_site_agent_actors.actors.waldur.models import (
    ComponentUsage,
    ComponentUserUsage,
    UserUsageLimit,
)


def amount(value: float) -> str:
    """Waldur keeps usage with two decimals and answers with the same strings."""
    return f"{value:.2f}"


class Usages:
    def __init__(self, client: WaldurClient) -> None:
        self.client = client

    def of_month(self, resource_uuid: str, billing_period: str) -> list[ComponentUsage]:
        return self.client.list(
            "marketplace-component-usages/",
            ComponentUsage,
            {
                "resource_uuid": resource_uuid,
                "billing_period": billing_period,
                "field": ["uuid", "type", "usage", "billing_period"],
            },
        )

    def of_offering_month(self, offering_uuid: str, billing_period: str) -> list[ComponentUsage]:
        """Every resource's usages of the month in one paged listing, not one call per resource."""
        return self.client.list(
            "marketplace-component-usages/",
            ComponentUsage,
            {
                "offering_uuid": offering_uuid,
                "billing_period": billing_period,
                "field": ["uuid", "type", "usage", "billing_period", "resource_uuid"],
            },
        )

    def user_usages_of_month(
        self, resource_uuid: str, billing_period: str
    ) -> list[ComponentUserUsage]:
        return self.client.list(
            "marketplace-component-user-usages/",
            ComponentUserUsage,
            {"resource_uuid": resource_uuid, "component_usage_billing_period": billing_period},
        )

    def set_usage(self, resource_uuid: str, date: str, usages: dict[str, float]) -> None:
        """Upsert the month-to-date totals: replaying the same call changes nothing."""
        self.client.post(
            "marketplace-component-usages/set_usage/",
            {
                "resource": resource_uuid,
                "date": date,
                "usages": [{"type": k, "amount": amount(v)} for k, v in sorted(usages.items())],
            },
            retry=True,
        )

    def set_user_usages(
        self, component_usage_uuid: str, date: str, usages: dict[str, float]
    ) -> None:
        self.client.post(
            f"marketplace-component-usages/{component_usage_uuid}/set_user_usages/",
            {
                "usages": [
                    {"username": user, "usage": amount(value), "date": date}
                    for user, value in sorted(usages.items())
                ]
            },
            retry=True,
        )

    def user_limits(self, resource_uuid: str) -> list[UserUsageLimit]:
        return self.client.list(
            "component-user-usage-limits/", UserUsageLimit, {"resource_uuid": resource_uuid}
        )
