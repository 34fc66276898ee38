"""`SlurmBackend`: Waldur resources as SLURM accounts, teams as associations, usage from sacct.

The tree is root_account -> customer -> project -> allocation (or parent_account -> project
-> allocation when `parent_account` is set); only allocations are Waldur resources. Every call
goes through the offering's backend actor, so no two sacctmgr calls of one offering overlap.
What the actors resolve in Waldur for it (the offering's partitions and plugin options) is
handed over with `set_offering_details`.
"""

from __future__ import annotations

import os
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from waldur_site_agent_actors.backends import backend_ids, prepaid, units
from waldur_site_agent_actors.backends.base import BaseBackend, UserContext
from waldur_site_agent_actors.backends.component_mapping import ComponentMapper
from waldur_site_agent_actors.backends.exceptions import (
    BackendError,
    BackendNotReadyError,
    ConfigurationError,
    DuplicateResourceError,
)
from waldur_site_agent_actors.backends.slurm import (
    groups,
    homedirs,
    naming,
    periodic,
    projectdirs,
    qos,
    quotas,
    rest,
    rest_qos,
    usage,
)
from waldur_site_agent_actors.backends.slurm.client import AssocRow, ComponentMap, SlurmClient
from waldur_site_agent_actors.backends.slurm.settings import (
    TRES_OF_COMPONENT,
    SlurmComponent,
    SlurmSettings,
    tres_names,
)
from waldur_site_agent_actors.backends.structures import (
    BackendResourceInfo,
    ImportableResource,
    UsageReport,
    WaldurResource,
)

_JOBS_POLL_SECONDS = 0.5


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
            self.mapper = ComponentMapper(backend_components)
            """Waldur's components onto the TRES they are kept as (`target_components`)."""
            self.components = _component_maps(backend_components, self.settings)
            """Where each target of the mapping lives in SLURM: the client's keys."""
            self._check_names()
        except (msgspec.ValidationError, BackendError) as exc:
            raise ConfigurationError(f"slurm backend settings: {exc}") from exc
        self.supports_periodic_settings = self.settings.periodic.enabled
        self.client: SlurmClient = self._make_client()
        self.allocation_qos = (
            rest_qos.RestAllocationQos(self.client, self.settings.qos)
            if isinstance(self.client, rest.SlurmRestClient)
            else qos.AllocationQos(self.client, self.settings.qos)
        )
        self.offering_partitions: list[str] = []
        self.offering_plugin_options: dict[str, Any] = {}
        self.project_groups = groups.open_groups(self.settings.ldap)
        """The allocations' LDAP groups (`ldap`), None without it."""
        self.project_gid: projectdirs.GidOf = (
            self.project_groups.gid if self.project_groups else projectdirs.system_gid
        )
        """How a project directory's group becomes a gid for its Lustre quota: the LDAP
        group's with `ldap` (as upstream), else the system's."""
        self._quota_given: set[str] = set()
        self._homedir_refusals: set[str] = set()

    def _make_client(self) -> SlurmClient:
        s = self.settings
        if s.execution_mode == "rest" and s.rest_api and s.cluster_name:
            return rest.SlurmRestClient(
                s.rest_api,
                s.slurm_bin_path,
                s.cluster_name,
                self.components,
                s.default_partition,
                s.default_account,
            )
        return SlurmClient(
            s.slurm_bin_path,
            s.cluster_name,
            self.components,
            partition=s.default_partition,
            preferred_default=s.default_account,
        )

    @property
    def homedirs_enabled(self) -> bool:
        return self.settings.homedirs_enabled

    def _check_names(self) -> None:
        """Names from the config reach command lines too: refuse bad ones at start."""
        s = self.settings
        naming.account(s.default_account, "default_account")
        for key in ("root_account", "parent_account", "cluster_name"):
            value = getattr(s, key)
            if value:
                naming.account(value, key)
        for key in ("qos_default", "qos_downscaled", "qos_paused", "default_partition"):
            value = getattr(s, key)
            if value:
                naming.qos(value, key)
        for key in ("customer_prefix", "project_prefix", "allocation_prefix"):
            value = getattr(s, key)
            if value:
                naming.account(value + "x", key)

    def set_offering_details(self, partitions: list[str], plugin_options: dict[str, Any]) -> None:
        """What the actors read of the offering in Waldur: its partitions (their names are
        checked when they reach a command line) and its `plugin_options`."""
        self.offering_partitions = sorted(set(partitions))
        self.offering_plugin_options = dict(plugin_options)

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
        try:
            self.log.info("%s: %s", s.execution_mode, self.client.version())
        except BackendError as exc:  # a slurmrestd this agent cannot speak to says why here
            self.log.error("%s: %s", s.execution_mode, exc)
            return False
        self.log.info("clusters: %s", ", ".join(self.client.clusters()) or "none")
        tres = self.client.cluster_tres()
        self.log.info("TRES: %s", ", ".join(sorted(tres)))
        if not self.mapper.is_passthrough:
            self.log.info("target_components: %s", self.mapper.describe())
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
        for key in ("grp_tres", "min_tres_per_job"):
            missing = sorted(set(tres_names(getattr(s.qos, key))) - tres)
            if s.qos.enabled and missing:
                ok = False
                self.log.info("qos_management.%s: TRES %s MISSING", key, ", ".join(missing))
        known_qos = self.client.qos_names()
        named = [(k, getattr(s, k)) for k in ("qos_downscaled", "qos_paused")]
        if not s.qos.skip_qos_swap:
            named.insert(0, ("qos_default", s.restore_qos))
        named += [("qos_management.additional_qos", q) for q in s.qos.additional_qos or []]
        for key, name in named:
            if name:
                ok = ok and name in known_qos
                self.log.info("%s %s: %s", key, name, "ok" if name in known_qos else "MISSING")
        for key, account in (
            ("root account", s.parent_account or s.tree_root),
            ("default account", s.default_account),
        ):
            exists = self.client.account_row(account) is not None
            ok = ok and exists
            self.log.info("%s %s: %s", key, account, "ok" if exists else "MISSING")
        if self.project_groups:
            try:
                self.log.info("LDAP: %s", self.project_groups.check())
            except BackendError as exc:
                ok = False
                self.log.error("LDAP: %s", exc)
        return self._check_homedirs() and ok

    def _check_homedirs(self) -> bool:
        """Whether home directories are on, and whether this process (and the packaged
        service, when this is not it) can create them."""
        if not self.settings.homedirs_enabled:
            self.log.info("home directories: off")
            return True
        s = self.settings
        base = s.homedir_base_path or (s.ldap.default_home_base if s.ldap else "/home")
        problem = homedirs.obstacle(base)
        outside_the_service = "INVOCATION_ID" not in os.environ  # systemd sets it
        if problem is None and outside_the_service and homedirs.packaged_unit_refuses():
            problem = f"the packaged service cannot ({homedirs.UNIT} has ProtectHome=yes)"
        if problem:
            self.log.error(
                "home directories: on; they cannot be created in %s: %s; %s",
                base,
                problem,
                homedirs.FIX,
            )
            return False
        self.log.info("home directories: on; this process can create them in %s", base)
        return True

    def list_components(self) -> list[str]:
        return sorted(self.client.cluster_tres())

    # -- naming and the tree --------------------------------------------------------------------

    def resource_backend_id(self, waldur_resource: WaldurResource) -> str:
        """The allocation's account: `allocation_prefix + slug`, lowercased; with the
        offering's `account_name_generation_policy: project_slug`, the project's slug."""
        slug = waldur_resource.project_slug if self.named_by_project else waldur_resource.slug
        return naming.derived_account(
            self.settings.allocation_prefix, slug or waldur_resource.uuid, "allocation account"
        )

    def backend_id_candidates(self, waldur_resource: WaldurResource) -> list[str]:
        """`name`, then `name-2`, `name-3`, ...; by project slug `name-0`, `name-1`, ... as
        upstream numbers them (a project's allocations all start from its slug)."""
        return naming.candidates(
            self.resource_backend_id(waldur_resource),
            self.settings.backend_id_max_retries,
            first=0 if self.named_by_project else 2,
        )

    def backend_id_owner(self, backend_id: str) -> str | None:
        """The owner record of the account, or of another one slurmdbd takes it for (a long
        name sharing its first `naming.KEY_LENGTH` characters): that name cannot be added."""
        owner = super().backend_id_owner(backend_id)
        if owner is not None or len(backend_id) < naming.KEY_LENGTH:
            return owner
        twin = next(
            (r for r in self.client.list_resources() if naming.same_key(r.name, backend_id)), None
        )
        return None if twin is None else backend_ids.owner_in(twin.organization)

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
            root = self.settings.tree_root
            self.client.create_resource(
                customer, waldur_resource.customer_name or customer, customer, parent_name=root
            )
            self.log.info("created account %s under %s", customer, root)
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

    def sync_resource_project(self, waldur_resource: WaldurResource) -> None:
        """Membership cycle: the tree above the allocation as Waldur has it now (one read; a
        write only when something moved)."""
        account = naming.account(waldur_resource.backend_id)
        project, _, customer = self._tree(waldur_resource)
        rows = self._account_rows([account, project, customer])
        if account not in rows:
            return
        self._ensure_tree(waldur_resource, rows)
        if rows[account].parent != project:
            self.client.set_parent(account, project)
            self.log.info("moved account %s from %s to %s", account, rows[account].parent, project)

    def create_resource_with_id(
        self,
        waldur_resource: WaldurResource,
        backend_id: str,
        user_context: UserContext | None = None,
    ) -> BackendResourceInfo:
        """The tree, then the allocation with its limits: one read and up to three writes, and
        with `qos_management` its QoS; then its project directory."""
        account = naming.account(backend_id)
        qos.selected(waldur_resource.attributes)  # a hostile choice fails before any command
        project, _, customer = self._tree(waldur_resource)
        rows = self._account_rows([account, project, customer])
        if account in rows:
            raise DuplicateResourceError(f"account {account!r} already exists")
        if self.project_groups:
            self.project_groups.ensure(account)
        self._ensure_tree(waldur_resource, rows)
        backend_limits, _ = self._collect_resource_limits(waldur_resource)
        on_qos = self.settings.qos.apply_limits_to_qos
        qos_created = self.settings.qos.enabled and self.allocation_qos.create(account)
        self.client.create_resource(
            account,
            waldur_resource.name or account,
            backend_ids.owner_tag(waldur_resource.uuid),
            parent_name=project,
            limits=None if on_qos else backend_limits,
        )
        if self.settings.qos.enabled:
            self.allocation_qos.attach(account)
            if on_qos:
                self.allocation_qos.set_limits(account, self.client.by_limit_type(backend_limits))
                if qos_created:
                    # A budget starts unspent, but never wipe what a QoS found in place used.
                    self.allocation_qos.reset_raw_usage(account)
        if self.settings.project_dirs.enabled:
            projectdirs.ensure(
                self.settings.project_dirs, account, self.client.execute_command, self.project_gid
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

    def importable_resources(self) -> list[ImportableResource]:
        """Allocation accounts under project accounts, read in two calls, to offer to Waldur."""
        allocation, project = self.settings.allocation_prefix, self.settings.project_prefix
        described = {r.name.lower(): r for r in self.client.list_resources()}
        found = []
        for row in self.client.associations():
            if (
                row.user
                or not row.account.startswith(allocation)
                or not row.parent.startswith(project)
                or row.parent in (self.settings.tree_root, self.settings.parent_account)
            ):
                continue
            about = described.get(row.account)
            limits = self.mapper.limits_from_target(self.client.limits_of(row))
            found.append(
                ImportableResource(
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
        """Component limits, as TRES limits; a prepaid (`one`) component's GrpTRESMins budget
        is its monthly limit times the months the resource runs (upstream's arithmetic)."""
        _, waldur_limits = self.component_limits(waldur_resource)
        sold = dict(waldur_limits)
        budgets = [key for key in sold if self._prepaid_budget(key)]
        if budgets:
            months = prepaid.duration_months(waldur_resource.created, waldur_resource.end_date)
            if months is None:
                self.log.warning(
                    "prepaid resource %s has no created/end_date: its budget is one month",
                    waldur_resource.uuid,
                )
            for key in budgets:
                sold[key] *= months or 1
        return self.mapper.limits_to_target(sold), waldur_limits

    def _prepaid_budget(self, key: str) -> bool:
        targets = self.mapper.targets.get(key, {})
        return self.backend_components[key].get("accounting_type") == "one" and all(
            self.components[target].limit_type == "GrpTRESMins" for target in targets
        )

    def has_prepaid_components(self) -> bool:
        return any(self._prepaid_budget(key) for key in self.backend_components)

    def set_resource_limits(self, resource_backend_id: str, limits: dict[str, float]) -> str | None:
        self._write_limits(
            naming.account(resource_backend_id), self.mapper.limits_to_target(limits)
        )
        return None

    def _write_limits(self, account: str, backend_limits: dict[str, int]) -> None:
        if not backend_limits:
            return
        if self.settings.qos.apply_limits_to_qos:
            self.allocation_qos.set_limits(account, self.client.by_limit_type(backend_limits))
        else:
            self.client.set_resource_limits(account, backend_limits)

    def _current_limits(self, account: str) -> dict[str, int]:
        """The components' limits where they live: on the account, or on its QoS."""
        if not self.settings.qos.apply_limits_to_qos:
            return self.client.get_resource_limits(account)
        on_qos = self.allocation_qos.limits(account)
        return {
            key: int(on_qos[where.limit_type][where.tres])
            for key, where in self.components.items()
            if where.tres in on_qos.get(where.limit_type, {})
        }

    def apply_resource_limits(self, waldur_resource: WaldurResource) -> str | None:
        """The resource's limits (prepaid ones over its current duration), written only where
        they differ from what SLURM holds."""
        account = naming.account(waldur_resource.backend_id)
        wanted, _ = self._collect_resource_limits(waldur_resource)
        current = self._current_limits(account)
        changed = {key: value for key, value in wanted.items() if current.get(key) != value}
        # A limit SLURM holds that the resource no longer has (a soft delete's zero) goes.
        changed.update({key: -1 for key in current if key not in wanted})
        if changed:
            self._write_limits(account, changed)
            self.log.info("limits of %s: %s", account, changed)
        return None

    def get_resource_limits(self, resource_backend_id: str) -> dict[str, float]:
        return self.mapper.limits_from_target(
            self._current_limits(naming.account(resource_backend_id))
        )

    def backend_owned_limits(self) -> set[str]:
        """Not a prepaid budget (Waldur's limit times the months the resource runs: taking it
        back would multiply it again at each renewal, as upstream does), and nothing under
        `periodic_limits` (the policy's limits are Waldur's, computed from the resource's)."""
        if self.settings.periodic.enabled:
            return set()
        return {key for key in super().backend_owned_limits() if not self._prepaid_budget(key)}

    def limits_read_back(self, limits: dict[str, float]) -> dict[str, float]:
        return self.mapper.limits_from_target(self.mapper.limits_to_target(limits))

    # -- QoS ------------------------------------------------------------------------------------

    def qos_enforced(self) -> bool:
        """The order's QoS goes on users' associations: only when the operator turned it on,
        then as `enforce_offering_qos` forces, else as the offering's `enforce_qos` says."""
        s = self.settings
        if not s.qos_enforcement_enabled:
            return False
        if s.enforce_offering_qos is not None:
            return s.enforce_offering_qos
        return bool(self.offering_plugin_options.get("enforce_qos"))

    def _submit_lever(self) -> bool:
        """Pause and restore by `GrpSubmitJobs`, leaving QoS lists the agent must keep."""
        return self.qos_enforced() or self.settings.qos.skip_qos_swap

    def pause_resource(self, resource_backend_id: str) -> bool:
        if self._submit_lever():
            return self._set_submit(resource_backend_id, qos.PAUSED)
        return self._switch_qos(resource_backend_id, self.settings.qos_paused)

    def downscale_resource(self, resource_backend_id: str) -> bool:
        if self._submit_lever():
            return self._set_submit(resource_backend_id, qos.PAUSED)
        return self._switch_qos(resource_backend_id, self.settings.qos_downscaled)

    def restore_resource(self, resource_backend_id: str) -> bool:
        if self._submit_lever():
            return self._set_submit(resource_backend_id, qos.UNLIMITED)
        if self.settings.qos.enabled:
            return self._restore_own_qos(resource_backend_id)
        return self._switch_qos(resource_backend_id, self.settings.restore_qos)

    def _restore_own_qos(self, account: str) -> bool:
        """With `qos_management`, an allocation's normal state is its own QoS as its default.
        Upstream writes `qos_default` here, which wipes the allocation's QoS on the first
        membership cycle after it was made; restoring that QoS keeps it (docs/slurm.md)."""
        row = self._own_row(account)
        if row.default_qos.lower() == account.lower():
            return False
        self.client.set_qos(account, account)
        self.allocation_qos.attach(account)
        self.log.info("QoS of %s: %s -> its own", account, row.qos or "-")
        return True

    def _own_row(self, account: str) -> AssocRow:
        row = self.client.account_row(account)
        if row is None:
            raise BackendError(f"account {account!r} does not exist")
        return row

    def _set_submit(self, account: str, jobs: int) -> bool:
        """True when `GrpSubmitJobs` changed now (empty in SLURM means unlimited)."""
        current = self._own_row(account).grp_submit
        if current == ("" if jobs == qos.UNLIMITED else str(jobs)):
            return False
        self.client.set_grp_submit_jobs(account, jobs)
        self.log.info("GrpSubmitJobs of %s: %s -> %s", account, current or "-", jobs)
        return True

    def _switch_qos(self, account: str, name: str | None) -> bool:
        """True when the QoS changed now; a cheap read when it already is the wanted one."""
        if not name:
            return False
        row = self._own_row(account)
        if row.qos == name and row.default_qos in ("", name):
            return False
        self.client.set_qos(account, name)
        self.log.info("QoS of %s: %s -> %s", account, row.qos or "-", name)
        return True

    def get_resource_metadata(self, resource_backend_id: str) -> dict[str, Any]:
        row = self.client.account_row(resource_backend_id)
        if row is None:
            return {}
        backend = (
            self._current_limits(row.account)
            if self.settings.qos.apply_limits_to_qos
            else self.client.limits_of(row)
        )
        return {"qos": row.qos, "limits": self.mapper.limits_from_target(backend)}

    def apply_periodic_settings(
        self, resource_backend_id: str, settings: dict[str, Any]
    ) -> dict[str, Any]:
        """Fairshare, TRES limits and a raw usage reset from a Waldur periodic usage policy;
        the report (`success`, `error`, `commands_executed`) goes back to the policy."""
        return periodic.apply(self.client, self.settings.periodic, resource_backend_id, settings)

    # -- users ----------------------------------------------------------------------------------

    def set_resource_user_limits(
        self, resource_backend_id: str, username: str, limits: dict[str, float]
    ) -> None:
        """The user's MaxTRESMins, its components converted as the account's are."""
        self.client.set_resource_user_limits(
            resource_backend_id, username, self.mapper.limits_to_target(limits)
        )

    def _default_account_for(self, account: str) -> str | None:
        policy = self.settings.default_account_policy
        if policy == "common":
            return self.settings.default_account
        return account if policy == "individual" else None

    def _association_scope(self, attributes: dict[str, Any]) -> tuple[list[str], str | None]:
        """(partitions, QoS) of a new association, as upstream decides them: the order's QoS
        when QoS is enforced, on the order's partition or else the offering's (when enforced)
        or else the default partition; without it the offering's partitions when enforced."""
        chosen_qos, chosen_partition = qos.selected(attributes)
        enforced_partitions = (
            self.offering_partitions if self.settings.enforce_offering_partitions else []
        )
        if self.qos_enforced() and chosen_qos:
            partitions = [chosen_partition] if chosen_partition else enforced_partitions
            return partitions, chosen_qos
        return enforced_partitions, None

    def add_user(self, resource_backend_id: str, username: str, **kwargs: Any) -> bool:
        partitions, granted = self._association_scope(kwargs.get("resource_attributes") or {})
        if self.project_groups:
            self.project_groups.add(resource_backend_id, username)
        added = self.client.add_association(
            username,
            resource_backend_id,
            self._default_account_for(resource_backend_id),
            partitions=partitions,
            qos=granted,
        )
        if added and self.settings.homedirs_enabled:
            self.create_user_homedirs({username}, kwargs.get("homedir_umask"))
        return added

    def remove_user(self, resource_backend_id: str, username: str) -> bool:
        if self.project_groups:
            self.project_groups.remove(resource_backend_id, username)
        return super().remove_user(resource_backend_id, username)

    def process_existing_users(self, usernames: set[str]) -> None:
        if self.settings.homedirs_enabled:
            self.create_user_homedirs(usernames)

    def create_user_homedirs(self, usernames: set[str], umask: str | None = None) -> list[str]:
        """Home directories for those who lack one, and their quota; returns the users given
        a home directory now."""
        created = []
        base = self.settings.homedir_base_path
        for username in sorted(usernames):
            try:
                naming.user(username)
                path = os.path.join(base, username) if base else homedirs.passwd_home(username)
                if path and base and os.path.isdir(path):
                    made = False
                else:
                    made = homedirs.ensure_homedir(
                        username,
                        umask or self.settings.umask,
                        self.settings.homedir_skeleton,
                        self.client.execute_command,
                    )
                if made:
                    created.append(username)
                self._give_quota(username, path, made)
            except homedirs.NotPermitted as exc:
                self._homedirs_refused(str(exc))
                break  # the others would fail alike
            except BackendError as exc:
                self.log.error("home directory for %s: %s", username, exc)
        return created

    def _homedirs_refused(self, reason: str) -> None:
        """Said once per run (a membership cycle would otherwise repeat it for every user)."""
        if reason in self._homedir_refusals:
            self.log.debug("home directories still cannot be created: %s", reason)
            return
        self._homedir_refusals.add(reason)
        self.log.error(
            "home directories are on but this process cannot create them: %s; %s (said once "
            "per run)",
            reason,
            homedirs.FIX,
        )

    def _give_quota(self, username: str, path: str | None, made: bool) -> None:
        """`homedir_quota` on a new home directory, and once per run on an existing one (a
        quota added to the config reaches the users who already have a directory)."""
        config = self.settings.homedir_quota
        if config is None or not path or not os.path.isdir(path):
            return
        if made or username not in self._quota_given:
            quotas.apply_homedir_quota(self.client.execute_command, config, username, path)
            self._quota_given.add(username)

    def _pre_delete_user_actions(self, resource_backend_id: str, username: str) -> None:
        """A user leaving an allocation stops running jobs on it (upstream does too)."""
        self._cancel_jobs(resource_backend_id, username)

    def _cancel_jobs(self, account: str, user: str | None = None) -> None:
        """Cancel the account's (or one user's) jobs and wait until they are gone."""
        if not self.client.active_jobs(account, user):
            return
        self.client.cancel_jobs(account, user)
        deadline = time.monotonic() + self.settings.cancel_jobs_wait_seconds
        whose = f"{user}'s jobs in {account}" if user else f"the jobs of {account}"
        while jobs := self.client.active_jobs(account, user):
            if time.monotonic() >= deadline:
                raise BackendNotReadyError(f"{len(jobs)} of {whose} cancelled and still ending")
            time.sleep(_JOBS_POLL_SECONDS)
        self.log.info("cancelled %s", whose)

    # -- termination ----------------------------------------------------------------------------

    def _pre_delete_resource(self, waldur_resource: WaldurResource) -> None:
        """No running job and nobody's default account: SLURM refuses to remove it otherwise."""
        account = waldur_resource.backend_id
        self._cancel_jobs(account)
        for user in self.client.users_defaulting_to(account):
            self.client.move_default_account(user, away_from=account)
        if self.project_groups:  # as upstream, with soft_delete too
            self.project_groups.delete(account)

    def delete_resource(self, waldur_resource: WaldurResource, **kwargs: Any) -> str | None:
        """Remove the allocation (its associations go with it), its QoS, then its project if
        empty; with `soft_delete`, keep the account, unusable, for a later restore."""
        account = waldur_resource.backend_id
        own = self.client.account_row(account) if account else None
        if own is not None and self.settings.soft_delete:
            self._soft_delete(waldur_resource)
            return None
        result = super().delete_resource(waldur_resource, **kwargs)
        if own is None:
            return result
        if self.settings.qos.enabled:
            self.allocation_qos.delete(account)
        if waldur_resource.project_slug:
            project, _, _ = self._tree(waldur_resource)
            if own.parent == project and not self.client.children(project):
                self.client.delete_resource(project)
                self.log.info("removed the empty project account %s", project)
        return result

    def _soft_delete(self, waldur_resource: WaldurResource) -> None:
        """Jobs cancelled, users removed, every limit zero; the account (and its QoS) stay."""
        account = waldur_resource.backend_id
        self._pre_delete_resource(waldur_resource)
        if self.client.list_resource_users(account):
            self.client.remove_users(account)
        self._write_limits(account, dict.fromkeys(self.components, 0))
        self.log.info("soft-deleted %s: no users, zero limits, kept for a restore", account)

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
        report = usage.report(minutes, self._usage_to_waldur)
        return {wanted[a]: amounts for a, amounts in report.items()}

    def _usage_to_waldur(self, minutes: dict[str, float]) -> dict[str, float]:
        """TRES-minutes of the targets -> every component's usage in Waldur units."""
        converted = self.mapper.usage_in_source_units(minutes)
        return {
            key: float(units.usage_to_waldur(converted.get(key, 0.0), 1.0))
            for key in self.backend_components
        }


def _component_maps(
    components: dict[str, dict[str, Any]], settings: SlurmSettings
) -> dict[str, ComponentMap]:
    """Target -> where it lives: a component without `target_components` under its own key,
    the targets of one with it under theirs, with the component's limit type."""
    maps: dict[str, ComponentMap] = {}
    for key, component in components.items():
        try:
            extra = msgspec.convert(
                {k: component[k] for k in SlurmComponent.__struct_fields__ if k in component},
                SlurmComponent,
            )
        except msgspec.ValidationError as exc:
            raise ConfigurationError(f"component {key!r}: {exc}") from exc
        limit_type = extra.limit_type or settings.limit_type
        if extra.target_components:
            placed = {t: TRES_OF_COMPONENT.get(t, t) for t in extra.target_components}
        else:
            placed = {key: extra.tres or TRES_OF_COMPONENT.get(key, key)}
        for target, tres in placed.items():
            where = ComponentMap(tres=tres, limit_type=limit_type)
            if maps.setdefault(target, where) != where:
                raise ConfigurationError(
                    f"component {key!r}: {target} would be {limit_type} {tres} here and "
                    f"{maps[target].limit_type} {maps[target].tres} for another component"
                )
    kept = [(where.limit_type, where.tres) for where in maps.values()]
    twice = sorted({f"{kind} {tres}" for kind, tres in kept if kept.count((kind, tres)) > 1})
    if twice:
        raise ConfigurationError(f"components name one TRES in two ways: {', '.join(twice)}")
    return maps
