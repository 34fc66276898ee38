"""One Waldur actor per offering generation: its HTTP client, reached by messages from the others.

Per offering rather than per Waldur: a call retried with backoff (Waldur answering 5xx or 429)
waits in its actor's thread, and must hold up only the offering that made it, not every
offering of that Waldur. Per generation: its client gives up retrying once that generation
stops (the context's `stopping`), and the next one starts with a fresh client.
"""

from __future__ import annotations

import threading
from typing import Any, cast

import pykka

from waldur_site_agent_actors.actors.context import OfferingContext
from waldur_site_agent_actors.actors.offering_child import OfferingChild
from waldur_site_agent_actors.actors.remote import Remote
from waldur_site_agent_actors.actors.waldur.api import WaldurApi, WaldurApiProxy
from waldur_site_agent_actors.actors.waldur.client import WaldurClient
from waldur_site_agent_actors.config.model import Offering


class WaldurActor(OfferingChild):
    def __init__(self, context: OfferingContext, parent: pykka.ActorRef[Any]) -> None:
        super().__init__(context, parent, "waldur")
        self.client = client_for(
            context.offering,
            context.root.global_proxy,
            f"waldur-site-agent/{context.version}",
            context.stopping,
        )
        self.api = WaldurApi(self.client)

    def teardown(self) -> None:
        self.client.close()


def api_of(ref: pykka.ActorRef[WaldurActor]) -> WaldurApiProxy:
    """What the other actors call Waldur through: typed, each call a future."""
    return cast(WaldurApiProxy, Remote(ref, ("api",)))


def client_for(
    offering: Offering,
    proxy: str = "",
    user_agent: str = "",
    cancel: threading.Event | None = None,
) -> WaldurClient:
    oidc = None
    if offering.oidc_token_url and offering.oidc_client_id and offering.oidc_client_secret:
        oidc = (offering.oidc_token_url, offering.oidc_client_id, offering.oidc_client_secret)
    return WaldurClient(
        offering.waldur_api_url,
        offering.waldur_api_token,
        oidc=oidc,
        verify_ssl=offering.verify_ssl,
        proxy=proxy,
        user_agent=user_agent or "waldur-site-agent",
        cancel=cancel,
        offering=offering.name,
    )
