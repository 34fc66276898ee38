"""Marketplace orders, provider side."""

from __future__ import annotations

from waldur_site_agent_actors.actors.waldur.client import Listing, WaldurClient
from waldur_site_agent_actors.actors.waldur.models import Order

# States in which an order needs the provider (us).
ACTIONABLE_STATES = ("pending-provider", "executing")
TERMINAL_STATES = frozenset({"done", "erred", "canceled", "rejected"})


class Orders:
    def __init__(self, client: WaldurClient) -> None:
        self.client = client

    def actionable(self, offering_uuid: str, user_agent: str = "") -> Listing[Order]:
        """The orders waiting for the provider, oldest first, and those that cannot be read.
        `user_agent` names the mode asking: Waldur's integration status is made of these."""
        return self.client.listing(
            "marketplace-orders/",
            Order,
            {"offering_uuid": offering_uuid, "state": list(ACTIONABLE_STATES), "o": "created"},
            {"User-Agent": user_agent} if user_agent else None,
        )

    def get(self, uuid: str) -> Order:
        return self.client.get(f"marketplace-orders/{uuid}/", Order)

    def approve(self, uuid: str) -> None:
        # Replaying is harmless: an approve that went through answers 409 the second time, and
        # the order actor then looks at the order again on its next cycle.
        self.client.post(f"marketplace-orders/{uuid}/approve_by_provider/", retry=True)

    def reject(self, uuid: str, comment: str = "") -> None:
        body = {"provider_rejection_comment": comment} if comment else {}
        self.client.post(f"marketplace-orders/{uuid}/reject_by_provider/", body)

    def set_done(self, uuid: str) -> None:
        self.client.post(f"marketplace-orders/{uuid}/set_state_done/", retry=True)

    def set_erred(self, uuid: str, message: str, traceback: str = "") -> None:
        self.client.post(
            f"marketplace-orders/{uuid}/set_state_erred/",
            {"error_message": message, "error_traceback": traceback},
            retry=True,
        )

    def set_backend_id(self, uuid: str, backend_id: str) -> None:
        self.client.post(
            f"marketplace-orders/{uuid}/set_backend_id/", {"backend_id": backend_id}, retry=True
        )
