"""One Waldur actor per offering: its HTTP client, reached by messages from the offering's actors.

Per offering rather than per Waldur: a call retried with backoff (Waldur answering 5xx or 429)
waits in its actor's thread, and must hold up only the offering that made it, not every
offering of that Waldur.
"""

from __future__ import annotations

import threading
from typing import Any

import pykka

from waldur_site_agent_actors.actors.waldur.api import WaldurApi
from waldur_site_agent_actors.actors.waldur.client import WaldurClient
from waldur_site_agent_actors.config.model import Offering


class WaldurActor(pykka.ThreadingActor):
    def __init__(self, client: WaldurClient) -> None:
        super().__init__()
        self.client = client
        self.api = pykka.traversable(WaldurApi(client))

    def on_stop(self) -> None:
        self.client.close()

    def calls(self) -> int:
        return self.client.calls


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
    )


class WaldurPool:
    """The Waldur actors of the process, keyed by offering, URL, token and OIDC client.

    `stopping` is the process's shutdown signal: once set, calls stop being retried.
    """

    def __init__(
        self, proxy: str = "", user_agent: str = "", stopping: threading.Event | None = None
    ) -> None:
        self.proxy, self.user_agent = proxy, user_agent
        self.stopping = stopping
        self.actors: dict[tuple[str, ...], pykka.ActorRef[WaldurActor]] = {}

    def api_for(self, offering: Offering) -> Any:
        key = (
            offering.waldur_offering_uuid,
            offering.waldur_api_url.rstrip("/"),
            offering.waldur_api_token,
            offering.oidc_client_id or "",
            str(offering.verify_ssl),
        )
        ref = self.actors.get(key)
        if ref is None or not ref.is_alive():
            ref = WaldurActor.start(
                client_for(offering, self.proxy, self.user_agent, self.stopping)
            )
            self.actors[key] = ref
        return ref.proxy().api

    def stop(self) -> None:
        """Ask every Waldur actor to stop, without waiting: one may be in a call that hangs,
        and the service bounds the wait for all its actors at once."""
        for ref in self.actors.values():
            ref.stop(block=False)
