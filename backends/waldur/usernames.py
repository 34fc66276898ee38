"""`waldur-identity-bridge`: the username plugin of federated offerings.

It makes no usernames: Waldur B's provider gives them, and `username_reconciliation_enabled`
brings them here. What it does is keep Waldur B's users in step with this Waldur's offering
users through B's Identity Bridge (as `identity_bridge_source`): a user waiting for a name is
pushed to B at once, every membership sync pushes the profiles of all the offering's users, and
a user gone from the offering since the previous sync is removed from the source on B (which
deactivates a user no other source holds).
"""

from __future__ import annotations

import logging
from typing import Any

from waldur_site_agent_actors.backends.exceptions import BackendError
from waldur_site_agent_actors.backends.usernames import OfferingUserInfo, UsernameManagementBackend
from waldur_site_agent_actors.backends.waldur.http import TargetApi
from waldur_site_agent_actors.backends.waldur.identity_bridge import IdentityBridge

log = logging.getLogger("backends.WaldurIdentityBridgeUsernames")


class IdentityBridgeUsernames(UsernameManagementBackend):
    def __init__(
        self, backend_settings: dict[str, Any] | None = None, offering: Any = None
    ) -> None:
        super().__init__(backend_settings, offering)
        settings = self.backend_settings
        api = TargetApi(
            str(settings.get("target_api_url") or ""),
            str(settings.get("target_api_token") or ""),
            verify_ssl=bool(settings.get("target_verify_ssl", True)),
            timeout=float(settings.get("target_timeout") or 30.0),
        )
        self.source = str(settings.get("identity_bridge_source") or "")
        self.bridge = IdentityBridge(api, self.source)
        self.previous: set[str] | None = None
        """Waldur usernames pushed by the previous sync (None before the first)."""

    def generate_username(self, offering_user: OfferingUserInfo) -> str:
        """Pushes the user to B; the name itself comes from B's provider later."""
        if self.source and offering_user.user_username:
            self.bridge.push(offering_user.user_username, self._profile(offering_user))
        return ""

    def sync_user_profiles(self, offering_users: list[OfferingUserInfo]) -> None:
        if not self.source:
            log.warning("identity_bridge_source is not set: no profiles pushed to Waldur B")
            return
        current = set()
        for user in offering_users:
            if not user.user_username:
                continue
            current.add(user.user_username)
            try:
                self.bridge.push(user.user_username, self._profile(user))
            except BackendError as exc:
                log.error("profile of %s not pushed to Waldur B: %s", user.user_username, exc)
        if self.previous is not None:
            for username in sorted(self.previous - current):
                try:
                    self.bridge.remove(username)
                    log.info(
                        "%s left the offering: removed from %s on Waldur B", username, self.source
                    )
                except BackendError as exc:
                    log.error("%s not removed from Waldur B: %s", username, exc)
        self.previous = current

    @staticmethod
    def _profile(user: OfferingUserInfo) -> dict[str, Any]:
        return {"email": user.user_email, **user.profile} if user.user_email else dict(user.profile)
