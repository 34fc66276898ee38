"""`SlurmBackend`: Waldur resources as SLURM accounts, teams as associations, usage from sacct.

The tree is default_account -> customer -> project -> allocation (or parent_account -> project
-> allocation when `parent_account` is set); only allocations are Waldur resources. Every call
goes through the offering's backend actor, so no two sacctmgr calls of one offering overlap.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from waldur_site_agent_actors.backends import units
from waldur_site_agent_actors.backends.base import BaseBackend, UserContext
from waldur_site_agent_actors.backends.exceptions import (
    BackendError,
    BackendNotReadyError,
    ConfigurationError,
    DuplicateResourceError,
)
from waldur_site_agent_actors.backends.slurm import homedirs, naming, periodic, usage
from waldur_site_agent_actors.backends.slurm.client import AssocRow, ComponentMap, SlurmClient
from waldur_site_agent_actors.backends.slurm.settings import (
    TRES_OF_COMPONENT,
    SlurmComponent,
    SlurmSettings,
)
from waldur_site_agent_actors.backends.structures import (
    BackendResourceInfo,
    UsageReport,
    WaldurResource,
)

_JOBS_POLL_SECONDS = 0.5


class ImportableAccount(msgspec.Struct, frozen=True):
    """An allocation account Waldur may not know yet, and where it belongs there."""

    backend_id: str
    name: str
    project_slug: str
    limits: dict[str, float]


class SlurmBackend(BaseBackend):
    supports_user_homedirs = True
    supports_periodic_settings = False
    """Upstream's capability flag: true when `periodic_limits.enabled` (set per instance)."""

    def __init__(
        self, backend_settings: dict[str, Any], backend_components: dict[str, dict[str, Any]]
    ) -> None:
        super().__init__(backend_settings, backend_components)
        self.backend_type = "slurm"
        try:
            self.settings = msgspec.convert(backend_settings, SlurmSettings)
            self.components = {
                key: _component_map(key, component, self.settings)
                for key, component in backend_components.items()
            }
            self._check_names()
        except (msgspec.ValidationError, BackendError) as exc:
            raise ConfigurationError(f"slurm backend settings: {exc}") from exc
        self.supports_periodic_settings = self.settings.periodic.enabled
        self.client: SlurmClient = SlurmClient(
            self.settings.slurm_bin_path,
            self.settings.cluster_name,
            self.components,
            partition=self.settings.default_partition,
            preferred_default=self.settings.default_account,
        )

    @property
    def homedirs_enabled(self) -> bool:
        return self.settings.homedirs_enabled

    def _check_names(self) -> None:
        """Names from the config reach command lines too: refuse bad ones at start."""
        s = self.settings
        naming.account(s.default_account, "default_account")
        if s.parent_account:
            naming.account(s.parent_account, "parent_account")
        for key in ("qos_default", "qos_downscaled", "qos_paused", "default_partition"):
            value = getattr(s, key)
            if value:
                naming.qos(value, key)
        if s.cluster_name:
            naming.account(s.cluster_name, "cluster_name")
        for key in ("customer_prefix", "project_prefix", "allocation_prefix"):
            value = getattr(s, key)
            if value:
                naming.account(value + "x", key)

    # -- health ---------------------------------------------------------------------------------

    def ping(self, raise_exception: bool = False) -> bool:
        return self._reachable("SLURM", self._check_cluster, raise_exception)

    def _check_cluster(self) -> None:
        clusters = self.client.clusters()
        if self.settings.cluster_name and self.settings.cluster_name not in clusters:
            raise BackendError(f"cluster {self.settings.cluster_name!r} is not in slurmdbd")

    def diagnostics(self) -> bool:
        """Versions, cluster, TRES, QoS and the accounts the settings name, in the log."""
        ok = True
        s = self.settings
        self.log.info("sacctmgr: %s", self.client.version())
        self.log.info("clusters: %s", ", ".join(self.client.clusters()) or "none")
        tres = self.client.cluster_tres()
        self.log.info("TRES: %s", ", ".join(sorted(tres)))
        for key, where in sorted(self.components.items()):
            present = where.tres in tres
            ok = ok and present
            self.log.info(
                "component %s -> %s %s (%s)",
                key,
                where.limit_type,
                where.tres,
                "ok" if present else "MISSING on the cluster",
            )
        qos = self.client.qos_names()
        for key in ("qos_default", "qos_downscaled", "qos_paused"):
            name = getattr(s, key)
            if name:
                ok = ok and name in qos
                self.log.info("%s %s: %s", key, name, "ok" if name in qos else "MISSING")
        root = s.parent_account or s.default_account
        exists = self.client.account_row(root) is not None
        ok = ok and exists
        self.log.info("root account %s: %s", root, "ok" if exists else "MISSING")
        return ok

    def list_components(self) -> list[str]:
        return sorted(self.client.cluster_tres())

    # -- naming and the tree --------------------------------------------------------------------

    def resource_backend_id(self, waldur_resource: WaldurResource) -> str:
        """The allocation's account: `allocation_prefix + slug`, or `-2`, `-3`... if taken.

        An existing account of the same project is this resource's (created by a run that
        stopped before telling Waldur); one of another project belongs to someone else.
        """
        base = naming.derived_account(
            self.settings.allocation_prefix,
            waldur_resource.slug or waldur_resource.uuid,
            "allocation account",
        )
        for name in naming.candidates(base, self.settings.backend_id_max_retries):
            existing = self.client.get_resource(name)
            if existing is None or existing.organization == waldur_resource.project_uuid:
                return name
        raise BackendError(
            f"no free account name for {base!r} after {self.settings.backend_id_max_retries} tries"
        )

    def _tree(self, waldur_resource: WaldurResource) -> tuple[str, str, str | None]:
        """(project account, its parent, the customer account or None in a flat tree)."""
        project = naming.derived_account(
            self.settings.project_prefix, waldur_resource.project_slug, "project account"
        )
        if self.settings.parent_account:
            return project, self.settings.parent_account, None
        customer = naming.derived_account(
            self.settings.customer_prefix, waldur_resource.customer_slug, "customer account"
        )
        return project, customer, customer

    def _pre_create_resource(
        self, waldur_resource: WaldurResource, user_context: UserContext | None = None
    ) -> None:
        project, _, customer = self._tree(waldur_resource)
        self._ensure_tree(waldur_resource, self._account_rows([project, customer]))

    def _account_rows(self, names: list[str | None]) -> dict[str, AssocRow]:
        """The accounts' own association rows, read in one call."""
        wanted = [n for n in names if n]
        return {r.account: r for r in self.client.associations(account=wanted) if not r.user}

    def _ensure_tree(self, waldur_resource: WaldurResource, rows: dict[str, AssocRow]) -> None:
        """Customer and project accounts exist, under the right parents, before the allocation."""
        project, parent, customer = self._tree(waldur_resource)
        if customer and customer not in rows:
            self.client.create_resource(
                customer,
                waldur_resource.customer_name or customer,
                customer,
                parent_name=self.settings.default_account,
            )
            self.log.info("created account %s under %s", customer, self.settings.default_account)
        row = rows.get(project)
        if row is None:
            self.client.create_resource(
                project, waldur_resource.project_name or project, project, parent_name=parent
            )
            self.log.info("created account %s under %s", project, parent)
        elif row.parent != parent:
            # The project moved to another customer in Waldur: follow it.
            self.client.set_parent(project, parent)
            self.log.info("moved account %s from %s to %s", project, row.parent, parent)

    def create_resource_with_id(
        self,
        waldur_resource: WaldurResource,
        backend_id: str,
        user_context: UserContext | None = None,
    ) -> BackendResourceInfo:
        """The tree, then the allocation with its limits: one read and up to three writes."""
        account = naming.account(backend_id)
        project, _, customer = self._tree(waldur_resource)
        rows = self._account_rows([account, project, customer])
        if account in rows:
            raise DuplicateResourceError(f"account {account!r} already exists")
        self._ensure_tree(waldur_resource, rows)
        backend_limits, _ = self._collect_resource_limits(waldur_resource)
        self.client.create_resource(
            account,
            waldur_resource.name or account,
            waldur_resource.project_uuid,
            parent_name=project,
            limits=backend_limits,
        )
        info = BackendResourceInfo(backend_id=account, limits=backend_limits)
        self.post_create_resource(info, waldur_resource, user_context)
        return info

    def post_create_resource(
        self,
        resource: BackendResourceInfo,
        waldur_resource: WaldurResource,
        user_context: UserContext | None = None,
    ) -> None:
        resource.backend_metadata = self.get_resource_metadata(resource.backend_id)

    def pull_resource(self, waldur_resource: WaldurResource) -> BackendResourceInfo | None:
        """Existence, users and limits of an allocation in one sacctmgr call."""
        account = waldur_resource.backend_id
        if not account:
            return None
        rows = self.client.associations(account=account)
        own = next((r for r in rows if not r.user), None)
        if own is None:
            return None
        return BackendResourceInfo(
            backend_id=account,
            parent_id=own.parent,
            users=sorted({r.user for r in rows if r.user}),
            limits=self.client.limits_of(own),
        )

    def importable_resources(self) -> list[ImportableAccount]:
        """Allocation accounts under project accounts, read in two calls, to offer to Waldur."""
        allocation, project = self.settings.allocation_prefix, self.settings.project_prefix
        described = {r.name.lower(): r for r in self.client.list_resources()}
        found = []
        for row in self.client.associations():
            if (
                row.user
                or not row.account.startswith(allocation)
                or not row.parent.startswith(project)
                or row.parent in (self.settings.default_account, self.settings.parent_account)
            ):
                continue
            about = described.get(row.account)
            limits = {
                key: units.limit_to_waldur(value, self.unit_factor(key))
                for key, value in self.client.limits_of(row).items()
            }
            found.append(
                ImportableAccount(
                    backend_id=row.account,
                    name=about.description if about else row.account,
                    project_slug=row.parent[len(project) :],
                    limits=limits,
                )
            )
        return found

    # -- limits ---------------------------------------------------------------------------------

    def _collect_resource_limits(
        self, waldur_resource: WaldurResource
    ) -> tuple[dict[str, int], dict[str, float]]:
        return self.component_limits(waldur_resource)

    # -- QoS ------------------------------------------------------------------------------------

    def pause_resource(self, resource_backend_id: str) -> bool:
        return self._switch_qos(resource_backend_id, self.settings.qos_paused)

    def downscale_resource(self, resource_backend_id: str) -> bool:
        return self._switch_qos(resource_backend_id, self.settings.qos_downscaled)

    def restore_resource(self, resource_backend_id: str) -> bool:
        return self._switch_qos(resource_backend_id, self.settings.qos_default)

    def _switch_qos(self, account: str, qos: str | None) -> bool:
        """True when the QoS changed now; a cheap read when it already is the wanted one."""
        if not qos:
            return False
        row = self.client.account_row(account)
        if row is None:
            raise BackendError(f"account {account!r} does not exist")
        if row.qos == qos and row.default_qos in ("", qos):
            return False
        self.client.set_qos(account, qos)
        self.log.info("QoS of %s: %s -> %s", account, row.qos or "-", qos)
        return True

    def get_resource_metadata(self, resource_backend_id: str) -> dict[str, Any]:
        row = self.client.account_row(resource_backend_id)
        if row is None:
            return {}
        limits = {
            key: units.limit_to_waldur(value, self.unit_factor(key))
            for key, value in self.client.limits_of(row).items()
        }
        return {"qos": row.qos, "limits": limits}

    def apply_periodic_settings(
        self, resource_backend_id: str, settings: dict[str, Any]
    ) -> dict[str, Any]:
        """Fairshare, TRES limits and a raw usage reset from a Waldur periodic usage policy;
        the report (`success`, `error`, `commands_executed`) goes back to the policy."""
        return periodic.apply(self.client, self.settings.periodic, resource_backend_id, settings)

    # -- users ----------------------------------------------------------------------------------

    def _default_account_for(self, account: str) -> str | None:
        policy = self.settings.default_account_policy
        if policy == "common":
            return self.settings.default_account
        return account if policy == "individual" else None

    def add_user(self, resource_backend_id: str, username: str, **kwargs: Any) -> bool:
        added = self.client.add_association(
            username, resource_backend_id, self._default_account_for(resource_backend_id)
        )
        if added and self.settings.homedirs_enabled:
            self.create_user_homedirs({username}, kwargs.get("homedir_umask"))
        return added

    def process_existing_users(self, usernames: set[str]) -> None:
        if self.settings.homedirs_enabled:
            self.create_user_homedirs(usernames)

    def create_user_homedirs(self, usernames: set[str], umask: str | None = None) -> list[str]:
        """Home directories for those who lack one; returns the users given one now."""
        created = []
        for username in sorted(usernames):
            try:
                naming.user(username)
                if homedirs.ensure_homedir(
                    username,
                    umask or self.settings.umask,
                    self.settings.homedir_skeleton,
                    self.client.execute_command,
                ):
                    created.append(username)
            except BackendError as exc:
                self.log.error("home directory for %s: %s", username, exc)
        return created

    # -- termination ----------------------------------------------------------------------------

    def _pre_delete_resource(self, waldur_resource: WaldurResource) -> None:
        """No running job and nobody's default account: SLURM refuses to remove it otherwise."""
        account = waldur_resource.backend_id
        if self.client.active_jobs(account):
            self.client.cancel_jobs(account)
            deadline = time.monotonic() + self.settings.cancel_jobs_wait_seconds
            while jobs := self.client.active_jobs(account):
                if time.monotonic() >= deadline:
                    raise BackendNotReadyError(
                        f"{len(jobs)} cancelled job(s) of {account} are still ending"
                    )
                time.sleep(_JOBS_POLL_SECONDS)
            self.log.info("cancelled the jobs of %s", account)
        for user in self.client.users_defaulting_to(account):
            self.client.move_default_account(user, away_from=account)

    def delete_resource(self, waldur_resource: WaldurResource, **kwargs: Any) -> str | None:
        """Remove the allocation (its associations go with it), then its project if empty."""
        account = waldur_resource.backend_id
        own = self.client.account_row(account) if account else None
        result = super().delete_resource(waldur_resource, **kwargs)
        if own is not None and waldur_resource.project_slug:
            project, _, _ = self._tree(waldur_resource)
            if own.parent == project and not self.client.children(project):
                self.client.delete_resource(project)
                self.log.info("removed the empty project account %s", project)
        return result

    # -- usage ----------------------------------------------------------------------------------

    def _get_usage_report(self, resource_backend_ids: list[str]) -> UsageReport:
        now = datetime.now(ZoneInfo(self.timezone))
        return self.get_usage_report_for_period(resource_backend_ids, now.year, now.month)

    def get_usage_report_for_period(
        self, resource_backend_ids: list[str], year: int, month: int
    ) -> UsageReport:
        """One sacct call for every account asked for (a few for many thousands)."""
        wanted: dict[str, str] = {}
        for backend_id in resource_backend_ids:
            try:
                wanted[naming.account(backend_id)] = backend_id
            except BackendError as exc:
                self.log.warning("usage of %r not read: %s", backend_id, exc)
        if not wanted:
            return {}
        jobs = self.client.get_usage_report(
            sorted(wanted), usage.month_window(year, month, self.timezone)
        )
        minutes = usage.tres_minutes(
            jobs, {key: where.tres for key, where in self.components.items()}, set(wanted)
        )
        factors = {key: self.unit_factor(key) for key in self.components}
        return {wanted[a]: amounts for a, amounts in usage.report(minutes, factors).items()}


def _component_map(key: str, component: dict[str, Any], settings: SlurmSettings) -> ComponentMap:
    extra = msgspec.convert(
        {k: component[k] for k in ("tres", "limit_type") if k in component}, SlurmComponent
    )
    return ComponentMap(
        tres=extra.tres or TRES_OF_COMPONENT.get(key, key),
        limit_type=extra.limit_type or settings.limit_type,
    )
