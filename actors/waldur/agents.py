"""The agent registry (identity, services, processors), health checks, shipped logs and event
queue registration."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec

from waldur_site_agent_actors.actors.waldur.client import WaldurClient, WaldurError
from waldur_site_agent_actors.actors.waldur.models import (
    EventSubscription,
    Identity,
    Processor,
    Service,
    SubscriptionQueue,
    UnifiedQueue,
)

HEALTH_OFFERING_FIELDS = ["components", "customer_uuid", "partitions", "plugin_options"]


class Agents:
    def __init__(self, client: WaldurClient) -> None:
        self.client = client

    def ensure_identity(
        self, offering_uuid: str, version: str, dependencies: list[dict[str, str]]
    ) -> Identity:
        """Find or create `agent-<offering>`; updated once per start, not on every cycle."""
        name = f"agent-{offering_uuid}"
        body = {
            "offering": offering_uuid,
            "name": name,
            "version": version,
            "dependencies": dependencies,
            "last_restarted": datetime.now(UTC).isoformat(),
            "config_file_path": "",
            "config_file_content": "",
        }
        found = self.client.get(
            "marketplace-site-agent-identities/", list[Identity], {"name": name}
        )
        if found:
            updated = self.client.send(
                "PUT", f"marketplace-site-agent-identities/{found[0].uuid}/", body, Identity
            )
            return updated or found[0]
        created = self.client.post("marketplace-site-agent-identities/", body, Identity)
        assert created is not None
        return created

    def register_service(self, identity_uuid: str, name: str, mode: str) -> Service | None:
        return self.client.post(
            f"marketplace-site-agent-identities/{identity_uuid}/register_service/",
            {"name": name, "mode": mode},
            Service,
            retry=True,
        )

    def register_processor(
        self, service_uuid: str, name: str, backend_type: str, backend_version: str
    ) -> Processor | None:
        return self.client.post(
            f"marketplace-site-agent-services/{service_uuid}/register_processor/",
            {"name": name, "backend_type": backend_type, "backend_version": backend_version},
            Processor,
            retry=True,
        )

    def health_check(self, offering_uuid: str, user_agent: str) -> None:
        """The calls upstream's event process makes for each offering every 30 minutes (what
        building its order processor fetches, then the offering's orders), under its own
        User-Agent: Waldur sees the agent alive when no event has needed it for a while."""
        headers = {"User-Agent": user_agent}
        self.client.request("GET", "users/me/", headers=headers)
        response = self.client.request(
            "GET",
            f"marketplace-provider-offerings/{offering_uuid}/",
            params={"field": HEALTH_OFFERING_FIELDS},
            headers=headers,
        )
        customer = msgspec.json.decode(response.content, type=dict[str, Any]).get("customer_uuid")
        self.client.request(
            "GET",
            "marketplace-service-providers/",
            params={"customer_uuid": customer, "field": ["uuid"]},
            headers=headers,
        )
        self.client.request(
            "GET", "marketplace-orders/", params={"offering_uuid": offering_uuid}, headers=headers
        )

    def ship_logs(self, entries: list[dict[str, Any]]) -> None:
        """One batch of log entries (`agent_identity_uuid`, `timestamp`, `level`, `message`,
        `module`); sent once: the shipper decides about retries."""
        self.client.post("marketplace-site-agent-logs/", entries)

    def register_queue(self, identity_uuid: str, object_types: list[str]) -> UnifiedQueue | None:
        """The unified queue of newer servers; None when this Waldur does not have it."""
        try:
            return self.client.post(
                f"marketplace-site-agent-identities/{identity_uuid}/register_queue/",
                {"object_types": object_types},
                UnifiedQueue,
                retry=True,
            )
        except WaldurError as exc:
            if exc.status in (404, 405):
                return None
            raise

    def register_subscription(self, identity_uuid: str, object_type: str) -> EventSubscription:
        subscription = self.client.post(
            f"marketplace-site-agent-identities/{identity_uuid}/register_event_subscription/",
            {"observable_object_type": object_type},
            EventSubscription,
            retry=True,
        )
        assert subscription is not None
        return subscription

    def create_queue(
        self, subscription_uuid: str, offering_uuid: str, object_type: str
    ) -> SubscriptionQueue:
        queue = self.client.post(
            f"event-subscriptions/{subscription_uuid}/create_queue/",
            {"offering_uuid": offering_uuid, "object_type": object_type},
            SubscriptionQueue,
            retry=True,
        )
        assert queue is not None
        return queue
