"""`UpstreamBackend`: an upstream plugin behind the interface the actors call.

The actors call it as they call a native plugin (`create_resource_with_id(resource, id,
context)`, `get_usage_report(ids)`, ...); it calls the upstream plugin as upstream's processors
do: with `waldur_api_client` models of the resource, upstream's `user_context`, upstream's
names for new resources, a Waldur client where upstream passes one. Membership is upstream's
per-resource sequence (membership.py) rather than the native member diff, because upstream
plugins' member semantics (CUIDs, consent, roles) hang on it.

Only the offering's backend actor calls it, one call at a time, like any plugin.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import msgspec
from waldur_site_agent.backend.backends import PendingOrderDecision

from waldur_site_agent_actors.actors.upstream import convert
from waldur_site_agent_actors.actors.upstream.membership import MembershipSync
from waldur_site_agent_actors.actors.upstream.waldur import REPORT_FIELDS, UpstreamWaldur
from waldur_site_agent_actors.actors.waldur.client import WaldurError, WaldurUnreachable
from waldur_site_agent_actors.backends import backend_ids
from waldur_site_agent_actors.backends.backend_ids import Claim
from waldur_site_agent_actors.backends.discovery import component_dicts
from waldur_site_agent_actors.backends.exceptions import BackendError
from waldur_site_agent_actors.backends.structures import (
    ACCEPT,
    PENDING,
    BackendResourceInfo,
    OrderDecision,
    UsageReport,
    WaldurResource,
    WaldurUpdates,
)
from waldur_site_agent_actors.config.model import Offering

log = logging.getLogger("actors.upstream")

DECISIONS = {
    PendingOrderDecision.ACCEPT: ACCEPT,
    PendingOrderDecision.PENDING: PENDING,
    PendingOrderDecision.REJECT: OrderDecision("reject"),
}


def uuid_hex(value: Any) -> str:
    return UUID(str(value)).hex


def _key_pair(key: Any, hook: str) -> dict[str, str]:
    """`{client_id, api_key}` as upstream's hooks give it; anything else is the plugin's bug,
    refused before a malformed key reaches Waldur (as upstream does)."""
    if not isinstance(key, dict) or not key.get("client_id") or not key.get("api_key"):
        raise BackendError(f"{hook} gave a key without client_id and api_key")
    return {"client_id": str(key["client_id"]), "api_key": str(key["api_key"])}


class UpstreamBackend:
    upstream = True
    """Read by the actors: membership runs upstream's sequence, the order cycle its preflight."""

    def __init__(
        self,
        plugin: Any,
        offering: Offering,
        waldur: UpstreamWaldur,
        translated: convert.Translator,
    ) -> None:
        self.plugin = plugin
        self.offering = offering
        self.waldur = waldur
        self.translated = translated
        self.members = MembershipSync(plugin, offering, waldur)
        self.ready = False
        self.fetched: dict[str, Any] = {}  # this order cycle's resources, by uuid
        self.reported: dict[str, Any] = {}  # this report cycle's resources, by backend id

    @classmethod
    def create(
        cls, plugin_class: type, offering: Offering, waldur: UpstreamWaldur
    ) -> UpstreamBackend:
        translated = convert.Translator(offering.waldur_api_url)
        with translated():
            plugin = plugin_class(
                dict(offering.backend_settings), component_dicts(offering.backend_components)
            )
        return cls(plugin, offering, waldur, translated)

    # -- what the actors read off a plugin ---------------------------------------------------

    @property
    def backend_type(self) -> str:
        return str(getattr(self.plugin, "backend_type", ""))

    @property
    def supports_decreasing_usage(self) -> bool:
        return bool(self.plugin.supports_decreasing_usage)

    @property
    def supports_async_orders(self) -> bool:
        return bool(self.plugin.supports_async_orders)

    @property
    def supports_cycle_preflight(self) -> bool:
        return bool(self.plugin.supports_cycle_preflight)

    @property
    def supports_resource_api_keys(self) -> bool:
        return bool(getattr(self.plugin, "supports_resource_api_keys", False))

    @property
    def handled_resource_states(self) -> tuple[str, ...]:
        return tuple(str(convert.plain(state)) for state in self.plugin.handled_resource_states)

    @property
    def timezone(self) -> str:
        return str(self.plugin.timezone)

    @timezone.setter
    def timezone(self, value: str) -> None:
        self.plugin.timezone = value

    @property
    def service_provider_uuid(self) -> str:
        return str(self.plugin.service_provider_uuid or "")

    @service_provider_uuid.setter
    def service_provider_uuid(self, value: str) -> None:
        self.plugin.service_provider_uuid = value

    # -- cycles ------------------------------------------------------------------------------

    def cycle_started(self, role: str) -> None:
        """A sweep (or one event) of `role` begins: fresh Waldur views for it."""
        with self.translated():
            self._prepare()
            if role == "order":
                self.fetched = {}
            elif role == "report":
                listed = self.waldur.resources(["OK", "Erred"], REPORT_FIELDS)
                self.reported = {r.backend_id: r for r in listed if r.backend_id}
            elif role == "membership":
                self.members.start(self.handled_resource_states)

    def set_offering_details(self, partitions: list[str], plugin_options: dict[str, Any]) -> None:
        """What upstream's processor pushes onto a backend from the offering, each cycle."""
        self.plugin.offering_partitions = sorted(partitions)
        if hasattr(self.plugin, "offering_enforce_qos"):
            self.plugin.offering_enforce_qos = bool(plugin_options.get("enforce_qos"))

    def _prepare(self) -> None:
        """What upstream's processors push onto a backend before using it: the service
        provider, the offering's partitions and its QoS enforcement flag."""
        if self.ready:
            return
        details = self.waldur.offering_details()
        provider = self.waldur.service_provider(details.customer_uuid)
        if provider is not None:
            self.plugin.service_provider_uuid = provider.uuid.hex
            self.members.provider_uuid = provider.uuid.hex
        self.plugin.offering_partitions = sorted(
            p.partition_name for p in (details.partitions or []) if p.partition_name
        )
        if hasattr(self.plugin, "offering_enforce_qos"):
            options = getattr(details.plugin_options, "additional_properties", None) or {}
            self.plugin.offering_enforce_qos = bool(options.get("enforce_qos"))
        self.ready = True

    def _model(self, resource: WaldurResource) -> Any:
        """Upstream's model of a resource, read once per order cycle (as upstream's order
        processor reads it), carrying the backend id the actors know."""
        key = uuid_hex(resource.uuid)
        model = self.fetched.get(key)
        if model is None:
            with self.translated():
                model = self.fetched[key] = self.waldur.resource(key)
        if resource.backend_id:
            model.backend_id = resource.backend_id
        return model

    def _model_of(self, backend_id: str) -> Any:
        """The model of the resource with `backend_id`: the one this order cycle read, else
        Waldur's."""
        model = next((m for m in self.fetched.values() if m.backend_id == backend_id), None)
        if model is None:
            with self.translated():
                model = self.waldur.resource_with_backend_id(backend_id)
            if model is None:
                raise BackendError(f"no resource of this offering has backend id {backend_id!r}")
            self.fetched[model.uuid.hex] = model
        return model

    # -- checks and diagnostics --------------------------------------------------------------

    def ping(self, raise_exception: bool = False) -> bool:
        with self.translated():
            return bool(self.plugin.ping(raise_exception))

    def diagnostics(self) -> bool:
        with self.translated():
            return bool(self.plugin.diagnostics())

    def list_components(self) -> list[str]:
        with self.translated():
            return [str(c) for c in self.plugin.list_components()]

    def run_preflight(self) -> None:
        with self.translated():
            self.plugin.run_preflight()

    # -- orders ------------------------------------------------------------------------------

    def evaluate_pending_order(self, order: Any) -> OrderDecision:
        with self.translated():
            details = self.waldur.order(order.uuid)
            decision = self.plugin.evaluate_pending_order(details, self.waldur.client)
        return DECISIONS[PendingOrderDecision(decision)]

    def backend_id_candidates(self, resource: WaldurResource) -> list[str]:
        """Upstream's names for a new resource, in its order: the plugin's name for the slug
        (or, with `account_name_generation_policy: project_slug`, the project's slug), then,
        when upstream tries more than one, the plugin's names for `<project slug>-0`, `-1`, ...
        (`backend_id_max_retries` in all)."""
        model = self._model(resource)
        options = getattr(model.offering_plugin_options, "additional_properties", None) or {}
        by_project = options.get("account_name_generation_policy") == "project_slug"
        rules = backend_ids.settings_of(self.offering.backend_settings)
        several = by_project or rules.check_backend_id_uniqueness
        tries = rules.backend_id_max_retries if several else 1
        bases = [model.project_slug if by_project else model.slug]
        bases += [f"{model.project_slug}-{n}" for n in range(tries - 1)]
        with self.translated():
            return list(dict.fromkeys(self.plugin._get_resource_backend_id(b) for b in bases))

    def claim(self, resource: WaldurResource, backend_id: str) -> Claim:
        """Upstream plugins keep no owner record: the name Waldur gives the resource is its
        own (adopted when the backend has it, created under when not, as upstream does), and
        any other name is tried, a backend already holding it refusing it as a duplicate."""
        return "ours" if backend_id and backend_id == resource.backend_id else "free"

    def create_resource_with_id(
        self, resource: WaldurResource, backend_id: str, user_context: dict[str, Any]
    ) -> BackendResourceInfo:
        """Upstream's creation under one name, with its user context. A name the backend
        already has raises `DuplicateResourceError`: the order actor tries the next one."""
        model = self._model(resource.with_backend_id(backend_id))
        context = self.members.user_context(model, user_context)
        with self.translated():
            info = self.plugin.create_resource_with_id(model, backend_id, context)
        if not info.backend_id:
            raise BackendError(f"Unable to create a backend resource for {resource.name!r}")
        model.backend_id = info.backend_id
        result = convert.resource_info(info)
        if not self.supports_async_orders:
            result = msgspec.structs.replace(result, pending_order_id="")
        return result

    def pull_resource(self, resource: WaldurResource) -> BackendResourceInfo | None:
        model = self._model(resource)
        with self.translated():
            info = self.plugin.pull_resource(model)
        return None if info is None else convert.resource_info(info, resource.backend_id)

    def waldur_updates(self, resource: WaldurResource) -> WaldurUpdates:
        """A create the backend finished (an asynchronous one): upstream's plugin sets what
        Waldur takes itself, with the client it is given (`sync_resource_effective_id`), so
        nothing is left for the actors to set."""
        model = self._model(resource)
        with self.translated():
            self.plugin.sync_resource_effective_id(model, self.waldur.client)
        return WaldurUpdates()

    def collect_limits(self, resource: WaldurResource) -> tuple[dict[str, int], dict[str, float]]:
        with self.translated():
            backend, waldur = self.plugin._collect_resource_limits(self._model(resource))
        return {k: int(v) for k, v in backend.items()}, convert.numbers(waldur)

    def set_resource_limits(self, resource_backend_id: str, limits: dict[str, float]) -> str | None:
        with self.translated():
            pending = self.plugin.set_resource_limits(resource_backend_id, convert.whole(limits))
        return str(pending) if pending and self.supports_async_orders else None

    def has_prepaid_components(self) -> bool:
        with self.translated():
            return bool(self.plugin.has_prepaid_components())

    def apply_resource_limits(self, resource: WaldurResource) -> None:
        """The resource's own limits onto the backend, as upstream applies them at creation and
        on an Update of prepaid components (limit x duration): `_setup_resource_limits`."""
        model = self._model(resource)
        model.limits.additional_properties.update(convert.whole(resource.limits))
        with self.translated():
            self.plugin._setup_resource_limits(model.backend_id, model)

    def set_resource_options(self, resource: WaldurResource, new_options: dict[str, Any]) -> None:
        """Upstream has no option hook: an option change reaches its plugins as nothing."""
        log.debug("options of %s not passed on: upstream plugins take none", resource.uuid)

    def delete_resource(self, resource: WaldurResource) -> str | None:
        model = self._model(resource)
        with self.translated():
            pending = self.plugin.delete_resource(model, project_slug=model.project_slug)
        return str(pending) if pending and self.supports_async_orders else None

    def check_pending_order(self, order_backend_id: str) -> bool:
        with self.translated():
            return bool(self.plugin.check_pending_order(order_backend_id))

    def add_users_to_resource(
        self, resource_backend_id: str, usernames: set[str], **details: Any
    ) -> set[str]:
        """The team of a resource just created, with what upstream passes along: CUIDs, roles,
        exposed attributes and the home directory umask."""
        model = self._model_of(resource_backend_id)
        extras = self.members.member_details(model)
        with self.translated():
            added = self.plugin.add_users_to_resource(model, set(usernames), **extras)
        return {str(u) for u in added or ()}

    def recreate_missing_resource(self, resource: WaldurResource) -> bool:
        model = self.members.model(resource)
        with self.translated():
            return bool(self.plugin.recreate_missing_resource(model))

    def apply_periodic_settings(
        self, resource_backend_id: str, settings: dict[str, Any]
    ) -> dict[str, Any]:
        with self.translated():
            result = self.plugin.apply_periodic_settings(resource_backend_id, settings)
        if not isinstance(result, dict):
            kind = type(result).__name__
            return {"success": False, "error": f"returned {kind}, expected dict"}
        return dict(convert.plain(result))

    # -- resource API keys: upstream's hooks under the native flow (actors/api_keys.py) --------

    @contextlib.contextmanager
    def _key_operation(self, what: str) -> Iterator[None]:
        """Upstream's core treats any exception of a key hook as that operation failing (the
        key marked erred); here it becomes the `BackendError` the native flow handles so. Its
        text stays in the log: an internal error's words are not for Waldur unless the operator
        exposes error details (and then the traceback carries them)."""
        try:
            with self.translated():
                yield
        except (BackendError, WaldurError, WaldurUnreachable):
            raise
        except Exception as exc:
            log.warning("%s failed: %s: %s", what, type(exc).__name__, exc)
            raise BackendError(f"{what} failed ({type(exc).__name__})") from exc

    def generate_resource_key(self, resource_backend_id: str) -> dict[str, str]:
        """One key through upstream's `generate_resource_keys(id, count=1)`, which applies it
        before yielding it; the native flow reports it before it asks for the next. Upstream's
        core asks for what Waldur lacks of two in one call, and for one when Waldur holds one
        already: a plugin answers a count of 1 either way."""
        with self._key_operation("minting a key"):
            keys = list(self.plugin.generate_resource_keys(resource_backend_id, count=1))
        if len(keys) != 1:
            raise BackendError(f"generate_resource_keys(count=1) gave {len(keys)} keys")
        return _key_pair(keys[0], "generate_resource_keys")

    def prune_unknown_resource_keys(self, resource_backend_id: str, keep: list[str]) -> None:
        with self._key_operation("dropping the keys Waldur does not hold"):
            self.plugin.prune_unknown_resource_keys(resource_backend_id, list(keep))

    def rotate_resource_key(
        self, client_id: str, resource_backend_id: str, known_client_ids: list[str] | None = None
    ) -> dict[str, str] | str:
        """The new secret, or both halves when the client id changes with it (S3), checked as
        upstream checks them before it reports them."""
        with self._key_operation(f"rotating key {client_id}"):
            result = self.plugin.rotate_resource_key(
                client_id, resource_backend_id, known_client_ids=known_client_ids
            )
        if isinstance(result, dict):
            return _key_pair(result, "rotate_resource_key")
        if not isinstance(result, str) or not result:
            kind = type(result).__name__
            raise BackendError(f"rotate_resource_key returned {kind}, expected a str or a dict")
        return result

    def key_bearing_metadata(self, resource_backend_id: str) -> None:
        """Upstream's core publishes a resource's metadata at creation and at membership syncs
        only, never because its keys changed."""
        return None

    # -- membership --------------------------------------------------------------------------

    def sync_resource(self, resource: WaldurResource) -> bool:
        """Upstream's membership step for one resource; False when it is not on the backend."""
        with self.translated():
            return self.members.sync(self.members.model(resource))

    # -- usage -------------------------------------------------------------------------------

    def get_usage_report(self, resource_backend_ids: list[str]) -> UsageReport:
        """This month's usage as upstream's report reads it: `pull_resource(resource).usage`,
        resource by resource; one the backend does not have is left out."""
        report: UsageReport = {}
        for backend_id in resource_backend_ids:
            model = self.reported.get(backend_id)
            if model is None:
                continue
            with self.translated():
                info = self.plugin.pull_resource(model)
            if info is not None:
                report[backend_id] = convert.resource_info(info).usage
        return report

    def get_usage_report_for_period(
        self, resource_backend_ids: list[str], year: int, month: int
    ) -> UsageReport:
        report: UsageReport = {}
        for backend_id in resource_backend_ids:
            model = self.reported.get(backend_id)
            with self.translated():
                found = self.plugin.get_usage_report_for_period(
                    [backend_id], year, month, waldur_resource=model
                )
            usage = (found or {}).get(backend_id)
            if usage:
                report[backend_id] = {str(who): convert.numbers(a) for who, a in usage.items()}
        return report

    # -- what the site tools call ------------------------------------------------------------

    def get_resource_limits(self, resource_backend_id: str) -> dict[str, float]:
        with self.translated():
            return convert.numbers(self.plugin.get_resource_limits(resource_backend_id))

    @property
    def homedirs_enabled(self) -> bool:
        """Upstream's gate of its home directory command: a capable backend not opted out."""
        opted_in = self.offering.backend_settings.get("enable_user_homedir_account_creation", True)
        return bool(self.plugin.supports_user_homedirs) and bool(opted_in)

    def create_user_homedirs(self, usernames: set[str], umask: str = "0077") -> list[str]:
        """The users the plugin saw to (it skips those whose directory exists)."""
        with self.translated():
            self.plugin.create_user_homedirs(set(usernames), umask)
        return sorted(usernames)
