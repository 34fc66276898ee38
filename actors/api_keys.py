"""Resource API keys of plugins that manage them (`supports_resource_api_keys`: Ceph S3).

The agent, not Waldur, mints a resource's keys: the plugin applies each to the backend first,
and only then is its secret reported, so a key Waldur holds is always one the backend accepts.
A new resource gets `TARGET` keys (two: one stays usable while the other is rotated), reported
one by one; keys the backend holds that Waldur does not (left by an interrupted create) are
dropped first. A rotation comes as a `resource_api_key_rotation` event; a key left `Updating`
(its event missed) is rotated by the order sweep: with events, once it has waited
`STUCK_MINUTES`, as upstream does (its event may still be on its way); without events, at once.
A plugin whose resource metadata shows a key (`croit_s3`) has its metadata republished after
every change of keys.
Owned by the order actor, which owns the order plugin's calls; runs in its thread. No secret is
ever logged: only access keys (client ids), which are public.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from waldur_site_agent_actors.actors import messages as m
from waldur_site_agent_actors.actors.backend import PluginProxy
from waldur_site_agent_actors.actors.failure import waldur_error
from waldur_site_agent_actors.actors.offering_child import BACKEND_TIMEOUT
from waldur_site_agent_actors.actors.waldur.api import WaldurApiProxy
from waldur_site_agent_actors.actors.waldur.client import WaldurError, WaldurUnreachable
from waldur_site_agent_actors.backends.exceptions import BackendError

TARGET = 2
STUCK_MINUTES = 30


class ResourceKeys:
    def __init__(
        self,
        offering_uuid: str,
        plugin: PluginProxy,
        waldur: WaldurApiProxy,
        log: logging.LoggerAdapter[Any],
        expose_details: bool,
        events: bool,
    ) -> None:
        self.offering_uuid, self.plugin, self.waldur, self.log = offering_uuid, plugin, waldur, log
        self.expose_details, self.events = expose_details, events

    def known(self, resource_uuid: str) -> list[str] | None:
        """The client ids Waldur holds for the resource; None when that cannot be told (an
        empty answer, a key without its id yet, a failed read), and then nothing is pruned."""
        try:
            held = self.waldur.api_keys.of_resource(resource_uuid).get()
        except (WaldurError, WaldurUnreachable) as exc:
            self.log.warning("API keys of resource %s not read: %s", resource_uuid, exc)
            return None
        ids = [k.client_id for k in held if k.client_id]
        return ids if ids and len(ids) == len(held) else None

    def provision(self, resource_uuid: str, backend_id: str) -> None:
        """The resource's keys after a create, an adoption or a restore: what Waldur lacks of
        `TARGET`, each reported before the next is minted. A failure is logged, the order is
        still done (as upstream): a key can be rotated later, and a restore provisions again."""
        known = self.known(resource_uuid)
        try:
            if known is not None:
                self.plugin.prune_unknown_resource_keys(backend_id, known).get(
                    timeout=BACKEND_TIMEOUT
                )
            for _ in range(TARGET - len(known or [])):
                key = self.plugin.generate_resource_key(backend_id).get(timeout=BACKEND_TIMEOUT)
                self.waldur.api_keys.report_created(
                    resource_uuid, key["client_id"], key["api_key"]
                ).get()
                self.log.info("resource %s: key %s reported", resource_uuid, key["client_id"])
        except (WaldurError, WaldurUnreachable, BackendError) as exc:
            self.log.warning("API keys of resource %s not provisioned: %s", resource_uuid, exc)
        self.republish_metadata(resource_uuid, backend_id)

    def republish_metadata(self, resource_uuid: str, backend_id: str) -> None:
        """For a plugin whose metadata shows the keys (`croit_s3`): the metadata again, now that
        they changed, or they are gone with the user (empty metadata then replaces the old).
        Nothing is logged of it, it holds a secret."""
        if not resource_uuid:
            return
        try:
            metadata = self.plugin.key_bearing_metadata(backend_id).get(timeout=BACKEND_TIMEOUT)
            if metadata is not None:
                self.waldur.resources.set_backend_metadata(resource_uuid, metadata).get()
        except (WaldurError, WaldurUnreachable, BackendError) as exc:
            self.log.warning("metadata of resource %s not refreshed: %s", resource_uuid, exc)

    def on_event(self, event: m.KeyRotationRequested) -> None:
        if event.action != "rotate":
            self.log.error("API key event with action %r: only rotate is known", event.action)
        elif not (event.api_key_uuid and event.client_id and event.resource_backend_id):
            self.log.error("API key rotation without key, client id or backend id: dropped")
        else:
            self.rotate(
                event.api_key_uuid, event.client_id, event.resource_backend_id, event.resource_uuid
            )

    def sweep(self) -> None:
        """Keys left `Updating`: their rotation never reached this agent."""
        cutoff = datetime.now(UTC) - timedelta(minutes=STUCK_MINUTES) if self.events else None
        stuck = self.waldur.api_keys.rotating(
            self.offering_uuid, cutoff.isoformat() if cutoff else None
        ).get()
        for key in stuck:
            if key.client_id and key.resource_backend_id and key.resource_uuid:
                self.rotate(key.uuid, key.client_id, key.resource_backend_id, key.resource_uuid)
            else:
                self.log.warning("API key %s cannot be rotated: no client or backend id", key.uuid)

    def rotate(self, key_uuid: str, client_id: str, backend_id: str, resource_uuid: str) -> None:
        """Rotate on the backend, then report the new key; a failure marks the key erred with
        the reason (details only with `expose_backend_error_details`). Waldur unreachable
        leaves it `Updating`, for the sweep."""
        known = self.known(resource_uuid)
        try:
            new = self.plugin.rotate_resource_key(client_id, backend_id, known).get(
                timeout=BACKEND_TIMEOUT
            )
            if isinstance(new, dict):
                self.waldur.api_keys.set_key(key_uuid, new["api_key"], new["client_id"]).get()
            else:
                self.waldur.api_keys.set_key(key_uuid, str(new), None).get()
        except WaldurUnreachable as exc:
            self.log.warning("API key %s rotation left for a sweep: %s", key_uuid, exc)
            return
        except (WaldurError, BackendError) as exc:
            self.log.error("API key %s (%s) not rotated: %s", key_uuid, client_id, exc)
            message, _ = waldur_error(exc, self.expose_details)
            self.waldur.api_keys.set_erred(key_uuid, message).get()
            return
        self.log.info("API key %s rotated (was %s)", key_uuid, client_id)
        self.republish_metadata(resource_uuid, backend_id)
