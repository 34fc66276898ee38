"""Offering users: the per-offering accounts of Waldur users, and their username life cycle."""

from __future__ import annotations

from waldur_site_agent_actors.actors.waldur.client import WaldurClient
from waldur_site_agent_actors.actors.waldur.models import OfferingUser


class OfferingUsers:
    def __init__(self, client: WaldurClient) -> None:
        self.client = client

    def of_offering(
        self, offering_uuid: str, user_uuid: str | None = None, include_restricted: bool = False
    ) -> list[OfferingUser]:
        """Unrestricted users (those the agent serves); all of them with `include_restricted`."""
        params: dict[str, object] = {"offering_uuid": offering_uuid}
        if not include_restricted:
            params["is_restricted"] = "false"
        if user_uuid:
            params["user_uuid"] = user_uuid
        return self.client.list("marketplace-offering-users/", OfferingUser, params)

    def _transition(self, uuid: str, action: str, body: dict[str, object] | None = None) -> None:
        self.client.post(f"marketplace-offering-users/{uuid}/{action}/", body)

    def begin_creating(self, uuid: str) -> None:
        self._transition(uuid, "begin_creating")

    def set_username(self, uuid: str, username: str) -> None:
        """Waldur moves the offering user to OK when its username is set."""
        self.client.send("PATCH", f"marketplace-offering-users/{uuid}/", {"username": username})

    def set_pending_account_linking(self, uuid: str, comment: str, url: str | None) -> None:
        self._transition(
            uuid, "set_pending_account_linking", {"comment": comment, "comment_url": url}
        )

    def set_pending_additional_validation(self, uuid: str, comment: str, url: str | None) -> None:
        self._transition(
            uuid, "set_pending_additional_validation", {"comment": comment, "comment_url": url}
        )

    def set_validation_complete(self, uuid: str) -> None:
        self._transition(uuid, "set_validation_complete")

    def set_error_creating(self, uuid: str) -> None:
        self._transition(uuid, "set_error_creating")
