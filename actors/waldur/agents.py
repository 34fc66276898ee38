"""The agent registry (identity, services, processors) and event queue registration."""

from __future__ import annotations

from datetime import UTC, datetime

from waldur_site_agent_actors.actors.waldur.client import WaldurClient, WaldurError
from waldur_site_agent_actors.actors.waldur.models import (
    EventSubscription,
    Identity,
    Service,
    SubscriptionQueue,
    UnifiedQueue,
)


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
