"""Waldur B's Identity Bridge: this agent, as an identity service domain (`identity_bridge_source`),
pushes the users of Waldur A to B. A push creates the user on B or updates its profile and answers
its UUID, so it is how users are found on B too (`user_resolve_method: identity_bridge`).

B takes only the profile fields its configuration allows (`allowed-fields/`): others are left
out (all are sent when B does not say), and when B refuses a push anyway (its configuration
changed) the allowed fields are read again and the push tried once more.
"""

from __future__ import annotations

import logging
from typing import Any

from waldur_site_agent_actors.backends.waldur.http import TargetApi, TargetError
from waldur_site_agent_actors.backends.waldur.models import AllowedFields, BridgedUser

log = logging.getLogger("backends.WaldurBackend")


class IdentityBridge:
    def __init__(self, api: TargetApi, source: str) -> None:
        self.api, self.source = api, source
        self._allowed: set[str] | None = None
        self._asked = False

    def push(self, username: str, profile: dict[str, Any]) -> str:
        """The user's UUID on Waldur B, created or updated with the allowed part of `profile`."""
        try:
            return self._push(username, profile)
        except TargetError as exc:
            if exc.status != 400:
                raise
            self._asked = False
            return self._push(username, profile)

    def _push(self, username: str, profile: dict[str, Any]) -> str:
        allowed = self.allowed()
        body = {
            k: v
            for k, v in profile.items()
            if (allowed is None or k in allowed) and v not in (None, "", [])
        }
        body.update(username=username, source=self.source)
        return self.api.post("identity-bridge/", body, BridgedUser).uuid

    def remove(self, username: str) -> None:
        """The user left this domain: B drops the source, and deactivates a user left with none."""
        self.api.send("identity-bridge/remove/", {"username": username, "source": self.source})

    def allowed(self) -> set[str] | None:
        """The fields B takes; None when B does not say."""
        if not self._asked:
            try:
                answer = self.api.get("identity-bridge/allowed-fields/", AllowedFields)
                self._allowed = set(answer.allowed_fields)
            except TargetError as exc:
                log.warning("Waldur B's identity bridge does not list its fields: %s", exc)
                self._allowed = None
            self._asked = True
        return self._allowed
