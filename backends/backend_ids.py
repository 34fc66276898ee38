"""Whose an account is: the owner record a plugin writes when it creates one, and the claim
the order actor reads before it adopts, replaces or deletes an account.

Two Waldur resources can want the same backend name (a slug race, names that differ only in
characters a backend drops, an account made by hand). A name is therefore never taken over on
its name alone: the plugin records, on the backend, the Waldur resource it created the account
for, and the agent adopts an existing account only when that record names the resource at hand.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from waldur_site_agent_actors.config.model import BackendSettings

Claim = Literal["free", "ours", "unrecorded", "theirs"]
"""What the backend says of a name, for one resource: nothing there (`free`), an account
recorded as this resource's (`ours`), one with no owner record (made by hand, by upstream's
agent, or before records existed: `unrecorded`), one recorded as another resource's (`theirs`)."""

OWNER_PREFIX = "waldur-resource-"


def owner_tag(resource_uuid: str) -> str:
    """The owner record of an account made for `resource_uuid`, as backends store it (a SLURM
    account's organization, a MAM account's organization, ...): plain `[a-z0-9-]`, so no
    backend mangles it."""
    return OWNER_PREFIX + normal(resource_uuid)


def owner_in(text: str) -> str:
    """The resource uuid an owner record names; "" when `text` is not one (no record)."""
    text = text.strip().lower()
    return text[len(OWNER_PREFIX) :] if text.startswith(OWNER_PREFIX) else ""


def normal(resource_uuid: str) -> str:
    """Waldur writes uuids with and without dashes: compare them one way."""
    return resource_uuid.replace("-", "").lower()


def claim_of(owner: str | None, resource_uuid: str) -> Claim:
    """`owner` as `BaseBackend.backend_id_owner` returns it: None for no account, "" for an
    account without a record."""
    if owner is None:
        return "free"
    if not owner:
        return "unrecorded"
    return "ours" if normal(owner) == normal(resource_uuid) else "theirs"


BACKEND_ID_KEYS = ("backend_id_max_retries", "check_backend_id_uniqueness", "check_all_offerings")
"""Upstream's keys for choosing a new resource's backend id, in every plugin's settings (they
are `BackendSettings` keys): names tried, and whether Waldur is asked about each (for this
offering, or every offering of the provider)."""


def settings_of(backend_settings: dict[str, Any]) -> BackendSettings:
    """These keys of an offering's `backend_settings` (a plugin's own Struct checked them)."""
    return msgspec.convert(
        {k: v for k, v in backend_settings.items() if k in BACKEND_ID_KEYS}, BackendSettings
    )
