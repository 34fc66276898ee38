"""`BaseBackend`: the plugin contract of the seeds, with the documented no-op defaults.

Only the offering's backend actor ever calls these methods, one call at a time, so a plugin
needs no locking of its own.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Callable
from typing import Any

import msgspec

from waldur_site_agent_actors.backends import backend_ids, units
from waldur_site_agent_actors.backends.backend_ids import Claim
from waldur_site_agent_actors.backends.client import BaseClient
from waldur_site_agent_actors.backends.exceptions import (
    BackendError,
    BackendNotReadyError,
    ConfigurationError,
    DuplicateResourceError,
)
from waldur_site_agent_actors.backends.structures import (
    ACCEPT,
    TOTAL_ACCOUNT_USAGE,
    BackendResourceInfo,
    ClientResource,
    ImportableResource,
    OrderDecision,
    UsageReport,
    WaldurResource,
    WaldurUpdates,
)

LIMITED = ("limit", "one")
"""Accounting types whose amount the customer sets on the resource: a quota, or (`one`) a
prepaid one."""

UserContext = dict[str, Any]
"""Pre-resolved Waldur data: `team`, `offering_users`, `ssh_keys`, `plan_quotas`."""

STATE_DIR_VARIABLE = "WALDUR_SITE_AGENT_STATE_DIR"
"""Set by the agent to its `state_dir`: where a plugin that keeps local files puts them."""

READ_ONLY_VARIABLE = "WALDUR_SITE_AGENT_READ_ONLY"
"""Set (to "1") by commands that only look, such as `diagnostics`: a plugin that keeps local
files opens them read-only and creates none."""


class BaseBackend(abc.ABC):
    # Capability flags, read off the class by the core.
    supports_decreasing_usage = False
    supports_async_orders = False
    supports_cycle_preflight = False
    supports_user_homedirs = False
    supports_resource_api_keys = False
    """The resource's credentials are Waldur resource API keys, which the core asks this
    plugin to mint (`generate_resource_key`), clean up (`prune_unknown_resource_keys`) and
    rotate (`rotate_resource_key`)."""
    handled_resource_states: tuple[str, ...] = ("OK", "Erred")
    required_modules: tuple[str, ...] = ()
    """Modules of an optional extra the plugin needs, imported only when it is constructed (the
    module must import without them: upstream's core imports every installed plugin). One not
    installed is refused by name at validate and start."""

    def __init__(
        self, backend_settings: dict[str, Any], backend_components: dict[str, dict[str, Any]]
    ):
        self.backend_settings = dict(backend_settings)
        self.backend_components = {k: dict(v) for k, v in backend_components.items()}
        self.backend_type = "abstract"
        self.client: BaseClient | None = None
        self.timezone = "UTC"
        self.service_provider_uuid = ""
        self.offering_plugin_options: dict[str, Any] = {}
        """The offering's `plugin_options` as Waldur has them now (`set_offering_details`)."""
        self.log = logging.getLogger(f"backends.{type(self).__name__}")
        try:
            self.backend_id_settings = backend_ids.settings_of(backend_settings)
        except msgspec.ValidationError as exc:
            raise ConfigurationError(f"backend_settings: {exc}") from None

    def _reachable(self, system: str, probe: Callable[[], object], raise_exception: bool) -> bool:
        """The usual body of `ping`: `probe` raising `BackendError` means `system` is not usable."""
        try:
            probe()
        except BackendError as exc:
            if raise_exception:
                raise
            self.log.warning("%s is not usable: %s", system, exc)
            return False
        return True

    # -- abstract: every plugin answers these (the seed's decision matrix has the no-ops) ------

    @abc.abstractmethod
    def ping(self, raise_exception: bool = False) -> bool: ...

    @abc.abstractmethod
    def diagnostics(self) -> bool: ...

    @abc.abstractmethod
    def list_components(self) -> list[str]: ...

    @abc.abstractmethod
    def _get_usage_report(self, resource_backend_ids: list[str]) -> UsageReport: ...

    @abc.abstractmethod
    def _collect_resource_limits(
        self, waldur_resource: WaldurResource
    ) -> tuple[dict[str, int], dict[str, float]]: ...

    @abc.abstractmethod
    def _pre_create_resource(
        self, waldur_resource: WaldurResource, user_context: UserContext | None = None
    ) -> None: ...

    @abc.abstractmethod
    def downscale_resource(self, resource_backend_id: str) -> bool: ...

    @abc.abstractmethod
    def pause_resource(self, resource_backend_id: str) -> bool: ...

    @abc.abstractmethod
    def restore_resource(self, resource_backend_id: str) -> bool: ...

    @abc.abstractmethod
    def get_resource_metadata(self, resource_backend_id: str) -> dict[str, Any]: ...

    # -- hooks --------------------------------------------------------------------------------

    def post_create_resource(
        self,
        resource: BackendResourceInfo,
        waldur_resource: WaldurResource,
        user_context: UserContext | None = None,
    ) -> None:
        """Set `resource.backend_metadata` here to push data to Waldur."""

    def _pre_delete_resource(self, waldur_resource: WaldurResource) -> None:
        """Cleanup before deletion (cancel running jobs)."""

    def _post_delete_resource(self, waldur_resource: WaldurResource) -> None:
        """Cleanup after the account was deleted (not after a soft delete): MOAB drops the
        project account its last allocation leaves empty."""

    def _pre_delete_user_actions(self, resource_backend_id: str, username: str) -> None:
        """Per-user cleanup before the user's association is removed."""

    def process_existing_users(self, usernames: set[str]) -> None:
        """Called every membership cycle with the users already linked (e.g. homedirs)."""

    def run_preflight(self) -> None:
        """With `supports_cycle_preflight`, called before each order cycle: raising
        `BackendNotReadyError` leaves the cycle's orders for the next one."""
        if not self.ping():
            raise BackendNotReadyError(f"backend {self.backend_type} is not reachable")

    def check_pending_order(self, order_backend_id: str) -> bool:
        """Non-blocking orders: True once the remote order completed; raise if it failed."""
        return True

    def setup_target_event_subscriptions(self, *args: Any, **kwargs: Any) -> list[Any]:
        return []

    def evaluate_pending_order(self, order: Any) -> OrderDecision:
        """Decide a pending-provider order; the default approves every order."""
        return ACCEPT

    def get_usage_report_for_period(
        self, resource_backend_ids: list[str], year: int, month: int
    ) -> UsageReport:
        """Usage of a past month; backends that cannot look back return {}."""
        return {}

    def set_offering_details(self, partitions: list[str], plugin_options: dict[str, Any]) -> None:
        """What the actors read of the offering in Waldur before each sweep: its partitions
        (SLURM acts on them) and its `plugin_options` (every plugin: account names)."""
        self.offering_plugin_options = dict(plugin_options)

    # -- resource API keys (plugins with `supports_resource_api_keys`) --------------------------

    def generate_resource_key(self, resource_backend_id: str) -> dict[str, str]:
        """Apply one new key to the resource and return it: `client_id` (public) and
        `api_key` (the secret). Called once per key, so each is reported before the next."""
        raise BackendError(f"the {self.backend_type} backend has no resource API keys")

    def prune_unknown_resource_keys(self, resource_backend_id: str, keep: list[str]) -> None:
        """Drop the resource's keys whose client id is not in `keep` (what Waldur holds)."""
        raise BackendError(f"the {self.backend_type} backend has no resource API keys")

    def rotate_resource_key(
        self, client_id: str, resource_backend_id: str, known_client_ids: list[str] | None = None
    ) -> dict[str, str] | str:
        """Replace key `client_id`: the new secret, or `{client_id, api_key}` when the public
        id changes with it (S3). `known_client_ids` (None: unknown) lets the plugin drop keys
        Waldur never learnt of."""
        raise BackendError(f"the {self.backend_type} backend has no resource API keys")

    def key_bearing_metadata(self, resource_backend_id: str) -> dict[str, Any] | None:
        """The resource's metadata, for a plugin whose metadata shows the resource's keys: the
        core republishes it after minting or rotating one, so it never names a key that is gone.
        None (the default): the metadata shows no key."""
        return None

    def membership_sync_states(
        self, resource_backend_id: str, usernames: set[str]
    ) -> dict[str, str] | None:
        """Whether each user the resource should hold landed on the backend: `synced`,
        `pending` (the next sync adds them) or `error`, for Waldur's membership sync status
        (`enable_membership_sync_status`); None when the backend cannot say. The default reads
        the resource's users."""
        present = set(self._client.list_resource_users(resource_backend_id))
        return {u: "synced" if u in present else "pending" for u in usernames}

    # -- the rest, built on the client ----------------------------------------------------------

    @property
    def _client(self) -> BaseClient:
        if self.client is None:
            raise BackendError(f"{type(self).__name__} has no client")
        return self.client

    def get_usage_report(self, resource_backend_ids: list[str]) -> UsageReport:
        """The plugin's report with a zero `TOTAL_ACCOUNT_USAGE` for every resource lacking one."""
        report = self._get_usage_report(resource_backend_ids)
        zeros: dict[str, float] = dict.fromkeys(self.backend_components, 0.0)
        for backend_id in resource_backend_ids:
            usage = report.setdefault(backend_id, {})
            if TOTAL_ACCOUNT_USAGE not in usage:
                if len(usage) > 0:
                    totals: dict[str, float] = dict(zeros)
                    for amounts in usage.values():
                        for key, value in amounts.items():
                            totals[key] = totals.get(key, 0) + value
                    usage[TOTAL_ACCOUNT_USAGE] = totals
                else:
                    usage[TOTAL_ACCOUNT_USAGE] = dict(zeros)
        return report

    @property
    def named_by_project(self) -> bool:
        """The offering's `account_name_generation_policy: project_slug`: a resource's account
        is named after its project, not after itself (upstream applies it to every plugin)."""
        return self.offering_plugin_options.get("account_name_generation_policy") == "project_slug"

    def resource_backend_id(self, waldur_resource: WaldurResource) -> str:
        """The backend id a new resource gets; deterministic, so a restart finds it again.
        With the offering's `account_name_generation_policy: project_slug`, the project's slug:
        its later resources take the numbered names (`backend_id_candidates`).
        "" when the backend itself names what it creates (the federation's remote uuid)."""
        slug = waldur_resource.project_slug if self.named_by_project else waldur_resource.slug
        return self._get_resource_backend_id(slug or waldur_resource.uuid)

    def backend_id_candidates(self, waldur_resource: WaldurResource) -> list[str]:
        """The names a new resource may get, in order of preference: its usual name, then
        numbered ones for when that is another resource's (`backend_id_max_retries` in all)."""
        base = self.resource_backend_id(waldur_resource)
        if not base:
            return []
        tries = self.backend_id_settings.backend_id_max_retries
        # By project slug the project's resources all start from its name: `-0`, `-1`, ... as
        # upstream numbers them; otherwise `-2`, `-3`, ...
        first = 0 if self.named_by_project else 2
        return [base] + [self.numbered_backend_id(base, n) for n in range(first, first + tries - 1)]

    def numbered_backend_id(self, base: str, number: int) -> str:
        """The `number`-th name for `base`; backends with a length limit shorten it."""
        return f"{base}-{number}"

    def backend_id_owner(self, backend_id: str) -> str | None:
        """Who the account `backend_id` was created for, as the backend records it: the Waldur
        resource uuid, "" for an account without a record, None when there is no account.

        The default reads the client's `organization`, which `create_resource_with_id` fills
        with `backend_ids.owner_tag`; a plugin keeping the record elsewhere overrides this."""
        found = self._client.get_resource(backend_id)
        return None if found is None else backend_ids.owner_in(found.organization)

    def claim(self, waldur_resource: WaldurResource, backend_id: str) -> Claim:
        """What the account `backend_id` is to `waldur_resource`: the agent creates only on a
        `free` name, adopts only `ours`, and deletes nothing that is `theirs`."""
        return backend_ids.claim_of(self.backend_id_owner(backend_id), waldur_resource.uuid)

    def collect_limits(
        self, waldur_resource: WaldurResource
    ) -> tuple[dict[str, int], dict[str, float]]:
        """(backend limits, Waldur limits) of a resource; public for the core."""
        return self._collect_resource_limits(waldur_resource)

    def _get_resource_backend_id(self, resource_slug: str) -> str:
        prefix = self.backend_settings.get("allocation_prefix", "")
        return f"{prefix}{resource_slug}".lower()

    def create_resource(
        self, waldur_resource: WaldurResource, user_context: UserContext | None = None
    ) -> BackendResourceInfo:
        return self.create_resource_with_id(
            waldur_resource, self.resource_backend_id(waldur_resource), user_context
        )

    def create_resource_with_id(
        self,
        waldur_resource: WaldurResource,
        backend_id: str,
        user_context: UserContext | None = None,
    ) -> BackendResourceInfo:
        self._pre_create_resource(waldur_resource, user_context)
        if self._client.get_resource(backend_id) is not None:
            raise DuplicateResourceError(f"resource {backend_id!r} already exists on the backend")
        account = self._new_account(waldur_resource, backend_id)
        self._client.create_resource(
            name=backend_id,
            description=account.description,
            organization=account.organization,
            parent_name=self._parent_of(waldur_resource),
        )
        backend_limits, _ = self._collect_resource_limits(waldur_resource)
        if backend_limits:
            self._client.set_resource_limits(backend_id, backend_limits)
        info = BackendResourceInfo(backend_id=backend_id, limits=dict(backend_limits))
        self.post_create_resource(info, waldur_resource, user_context)
        return info

    def _new_account(self, waldur_resource: WaldurResource, backend_id: str) -> ClientResource:
        """The account `create_resource_with_id` makes: described by the resource's name, its
        organization the owner record. A plugin keeping the record elsewhere overrides this
        and `backend_id_owner` together."""
        return ClientResource(
            name=backend_id,
            description=waldur_resource.name,
            organization=backend_ids.owner_tag(waldur_resource.uuid),
        )

    def _parent_of(self, waldur_resource: WaldurResource) -> str | None:
        """The backend parent for a new resource; hierarchical backends override this."""
        return None

    def pull_resource(self, waldur_resource: WaldurResource) -> BackendResourceInfo | None:
        if not waldur_resource.backend_id:
            return None
        if self._client.get_resource(waldur_resource.backend_id) is None:
            return None
        # Usage is not fetched here: the report mode asks for all resources in one call.
        return BackendResourceInfo(
            backend_id=waldur_resource.backend_id,
            users=self._client.list_resource_users(waldur_resource.backend_id),
        )

    def recreate_missing_resource(self, waldur_resource: WaldurResource) -> bool:
        """A forced resync (the backend lost its accounts): create the resource again under its
        backend id if the backend lacks it; True when it did."""
        backend_id = waldur_resource.backend_id
        if not backend_id or self._client.get_resource(backend_id) is not None:
            return False
        self.create_resource_with_id(waldur_resource, backend_id)
        return True

    def list_resources(self) -> list[ClientResource]:
        return self._client.list_resources()

    def importable_resources(self) -> list[ImportableResource]:
        """Resources on the backend that a Waldur project may import: upstream's rule, an
        account whose organization is `project_prefix` + a project slug belongs to that project
        (the agent offers only those Waldur does not hold already). Backends that keep the
        project elsewhere (SLURM: the parent account) override this."""
        prefix = str(self.backend_settings.get("project_prefix") or "")
        found = []
        for resource in self.list_resources():
            slug = resource.organization.removeprefix(prefix)
            if not resource.organization.startswith(prefix) or not slug:
                continue
            backend_id = resource.backend_id or resource.name
            found.append(
                ImportableResource(
                    backend_id=backend_id,
                    name=resource.description or backend_id,
                    project_slug=slug,
                    limits=self.get_resource_limits(backend_id),
                )
            )
        return found

    @property
    def soft_deletes(self) -> bool:
        """`soft_delete`: terminating keeps the account, unusable, for a later restore."""
        return bool(self.backend_settings.get("soft_delete"))

    def delete_resource(self, waldur_resource: WaldurResource, **kwargs: Any) -> str | None:
        """Delete the resource, or with `soft_delete` keep it with no limits; returns a pending
        order id for non-blocking backends."""
        backend_id = waldur_resource.backend_id
        if not backend_id or self._client.get_resource(backend_id) is None:
            self.log.info("resource %r is not on the backend, nothing to delete", backend_id)
            return None
        self._pre_delete_resource(waldur_resource)
        if self.soft_deletes:
            return self.soft_delete_resource(waldur_resource)
        self._client.delete_resource(backend_id)
        self._post_delete_resource(waldur_resource)
        return None

    def soft_delete_resource(self, waldur_resource: WaldurResource) -> str | None:
        """The account stays, every component's limit zero (upstream's soft delete); a Restore
        order adopts it and `apply_resource_limits` gives it the resource's limits again."""
        zero = dict.fromkeys(self.backend_components, 0.0)
        pending = self.set_resource_limits(waldur_resource.backend_id, zero)
        self.log.info(
            "soft-deleted %s: limits zero, kept for a restore", waldur_resource.backend_id
        )
        return pending

    def set_resource_limits(self, resource_backend_id: str, limits: dict[str, float]) -> str | None:
        """Waldur-unit limits in, backend-unit limits out; unknown components are ignored."""
        backend_limits = {
            key: units.limit_to_backend(value, self.unit_factor(key))
            for key, value in limits.items()
            if key in self.backend_components
        }
        if backend_limits:
            self._client.set_resource_limits(resource_backend_id, backend_limits)
        return None

    def apply_resource_limits(self, waldur_resource: WaldurResource) -> str | None:
        """The resource's own limits onto the backend (an adopted resource, a recovered one, a
        prepaid one whose duration changed); returns a backend order id like
        `set_resource_limits`, or None when done."""
        _, limits = self.collect_limits(waldur_resource)
        if not limits:
            return None
        return self.set_resource_limits(waldur_resource.backend_id, limits)

    def has_prepaid_components(self) -> bool:
        """True when a limit depends on the resource's duration (`end_date`), so a renewal,
        which changes only that, must reach the backend through `apply_resource_limits`."""
        return False

    def waldur_updates(self, waldur_resource: WaldurResource) -> WaldurUpdates:
        """Membership cycle (and a non-blocking create once done): what Waldur should take from
        the backend for this resource. By default, as upstream, its limits: a site admin who
        changed a quota on the backend sees Waldur follow (`limits_from_backend`)."""
        return WaldurUpdates(limits=self.limits_from_backend(waldur_resource))

    def backend_owned_limits(self) -> set[str]:
        """The components whose limit the backend is the source of truth for: those the
        customer sets (`limit`, `one`). A `usage` component's backend limit is the offering's
        configured cap, not a limit of the resource (Waldur refuses it in the next order), so
        it never goes to Waldur; plugins leave out those whose backend value is derived."""
        return {
            key
            for key, component in self.backend_components.items()
            if component.get("accounting_type") in LIMITED
        }

    def limits_read_back(self, limits: dict[str, float]) -> dict[str, float]:
        """What `get_resource_limits` answers once `limits` (Waldur units) were written: the
        backend's rounding, so a limit Waldur holds is never taken for one an admin changed."""
        return {
            key: units.limit_to_waldur(
                units.limit_to_backend(value, self.unit_factor(key)), self.unit_factor(key)
            )
            for key, value in limits.items()
        }

    def limits_from_backend(
        self, waldur_resource: WaldurResource
    ) -> dict[str, float] | msgspec.UnsetType:
        """The resource's limits with those the backend holds otherwise (compared as numbers,
        so 100 and 100.0 are no change); unset when nothing differs. An Erred resource keeps
        Waldur's: what the backend holds may be a failed order's half-done work, and
        membership sync sets Waldur's limits on it again when it recovers."""
        owned = self.backend_owned_limits()
        if not owned or not waldur_resource.backend_id or waldur_resource.state == "Erred":
            return msgspec.UNSET
        held = self.get_resource_limits(waldur_resource.backend_id)
        current = {
            key: float(value) for key, value in waldur_resource.limits.items() if key in owned
        }
        written = self.limits_read_back(current)
        changed = {
            key: float(value)
            for key, value in held.items()
            if key in owned and float(value) not in (current.get(key), written.get(key))
        }
        if not changed:
            return msgspec.UNSET
        return {**waldur_resource.limits, **changed}

    def assigned_usernames(self) -> dict[str, str]:
        """Usernames the backend assigned to users, by their Waldur username: with
        `username_reconciliation_enabled`, the offering users here take them. Only the
        federation has any (Waldur B's offering users)."""
        return {}

    def sync_resource_project(self, waldur_resource: WaldurResource) -> None:
        """Membership cycle: follow the resource's project where it moved in Waldur (another
        customer); hierarchical backends override this."""

    def set_resource_options(
        self, waldur_resource: WaldurResource, new_options: dict[str, Any]
    ) -> str | None:
        """Options the customer changed on an existing resource, arriving as an Update order
        (offerings with `create_orders_on_resource_option_change`). Most backends have no use
        for options; one that does (Croit's safety limits) applies them here. Like
        `set_resource_limits`, returns a backend order id to wait for, or None when done."""
        return None

    def apply_periodic_settings(
        self, resource_backend_id: str, settings: dict[str, Any]
    ) -> dict[str, Any]:
        """Settings of a periodic usage policy (fairshare, TRES-minute limits); the result is
        reported to Waldur as `{success, error?, commands_executed}`, so it never raises."""
        return {
            "success": False,
            "error": f"the {self.backend_type} backend has no periodic settings",
            "commands_executed": [],
        }

    def get_resource_limits(self, resource_backend_id: str) -> dict[str, float]:
        raw = self._client.get_resource_limits(resource_backend_id)
        return {
            key: units.limit_to_waldur(value, self.unit_factor(key))
            for key, value in raw.items()
            if key in self.backend_components
        }

    def get_resource_user_limits(self, resource_backend_id: str) -> dict[str, dict[str, int]]:
        return self._client.get_resource_user_limits(resource_backend_id)

    def set_resource_user_limits(
        self, resource_backend_id: str, username: str, limits: dict[str, float]
    ) -> None:
        backend_limits = {
            key: units.limit_to_backend(value, self.unit_factor(key))
            for key, value in limits.items()
            if key in self.backend_components
        }
        self._client.set_resource_user_limits(resource_backend_id, username, backend_limits)

    def unit_factor(self, component: str) -> float:
        return float(self.backend_components.get(component, {}).get("unit_factor") or 1)

    def component_limits(
        self, waldur_resource: WaldurResource, fixed: bool = True
    ) -> tuple[dict[str, int], dict[str, float]]:
        """The usual `_collect_resource_limits`: `limit` and prepaid `one` components from the
        resource's limits and, with `fixed`, `usage` components capped by their configured
        `limit`; as (backend units, Waldur units)."""
        backend_limits: dict[str, int] = {}
        waldur_limits: dict[str, float] = {}
        for key, component in self.backend_components.items():
            limited = component.get("accounting_type") in LIMITED
            if limited and key in waldur_resource.limits:
                value = float(waldur_resource.limits[key])
            elif fixed and component.get("limit") is not None:
                value = float(component["limit"])
            else:
                continue
            waldur_limits[key] = value
            backend_limits[key] = units.limit_to_backend(value, self.unit_factor(key))
        return backend_limits, waldur_limits

    def add_user(self, resource_backend_id: str, username: str, **kwargs: Any) -> bool:
        if self._client.get_association(username, resource_backend_id) is not None:
            return False
        default_account = self.backend_settings.get("default_account")
        self._client.create_association(username, resource_backend_id, default_account)
        return True

    def add_users_to_resource(
        self, resource_backend_id: str, usernames: set[str], **kwargs: Any
    ) -> set[str]:
        """Link every user; one failing user does not stop the others. Returns those linked."""
        added = set()
        for username in sorted(usernames):
            try:
                self.add_user(resource_backend_id, username, **kwargs)
                added.add(username)
            except BackendError as exc:
                self.log.error("cannot add %s to %s: %s", username, resource_backend_id, exc)
        return added

    def remove_user(self, resource_backend_id: str, username: str) -> bool:
        if self._client.get_association(username, resource_backend_id) is None:
            return False
        self._pre_delete_user_actions(resource_backend_id, username)
        self._client.delete_association(username, resource_backend_id)
        return True

    def remove_users_from_resource(
        self, resource_backend_id: str, usernames: set[str]
    ) -> list[str]:
        removed = []
        for username in sorted(usernames):
            try:
                if self.remove_user(resource_backend_id, username):
                    removed.append(username)
            except BackendError as exc:
                self.log.error("cannot remove %s from %s: %s", username, resource_backend_id, exc)
        return removed
