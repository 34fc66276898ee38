"""`backend_settings` and extra component keys of the SLURM plugin, validated when a config loads.

Upstream's key names are kept, so an operator's existing settings load unchanged. The upstream
features this plugin does not have (slurmrestd mode, per-account QoS management, LDAP, project
directories, filesystem quotas, soft delete, ...) are declared here so that upstream's files load
while they are off; config/keys.py says what each key does and refuses, naming it, every one that
a file turns on: silently ignoring `soft_delete: true` would delete accounts an operator meant to
keep.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from waldur_site_agent_actors.config.model import BackendSettings, Umask

LimitType = Literal["GrpTRESMins", "MaxTRESMins", "GrpTRES"]
LIMIT_TYPES: tuple[LimitType, ...] = ("GrpTRESMins", "MaxTRESMins", "GrpTRES")
DefaultAccountPolicy = Literal["common", "individual", "none"]

# Waldur component keys that name a TRES differently; any other key is the TRES name itself.
TRES_OF_COMPONENT = {"gpu": "gres/gpu", "ram": "mem", "memory": "mem"}


class PeriodicLimits(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Upstream's `periodic_limits`: Waldur's periodic usage policies send fairshare and TRES
    limits per allocation (`resource_periodic_limits` events), applied by the backend's
    `apply_periodic_settings`."""

    enabled: bool = False
    limit_type: str = "GrpTRESMins"
    """For `grp_tres_mins`/`max_tres_mins` settings that name no `limit_type` themselves."""
    emulator_mode: bool = False
    """Upstream's development switch to its SLURM emulator (refused when on: config/keys.py)."""
    emulator_base_url: str | None = None
    # Policy keys of older upstream configs: the policy is computed by Waldur now, and upstream
    # ignores them too; accepted so those configs load.
    tres_billing_enabled: bool | None = None
    tres_billing_weights: dict[str, Any] | None = None
    billing_weights: dict[str, Any] | None = None
    fairshare_decay_half_life: float | None = None
    qos_levels: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.limit_type not in LIMIT_TYPES:
            raise ValueError(
                f"periodic_limits.limit_type {self.limit_type!r} is not one of "
                f"{', '.join(LIMIT_TYPES)}"
            )


class SlurmSettings(BackendSettings, kw_only=True, forbid_unknown_fields=True):
    default_account: str = "root"
    """Root of the tree: customer accounts are created under it."""
    parent_account: str | None = None
    """Flat tree: project accounts directly under this account, no customer accounts."""
    default_account_policy: DefaultAccountPolicy = "common"
    """A new user's DefaultAccount: `common` = default_account, `individual` = the allocation,
    `none` = left to slurmdbd (the user's first association)."""
    cluster_name: str | None = None
    """Scope every sacctmgr/sacct/scancel call to this cluster."""
    slurm_bin_path: str = "/usr/bin"
    default_partition: str | None = None
    """Partition of new user associations; none = every partition."""
    qos_default: str = "normal"
    qos_downscaled: str | None = None
    qos_paused: str | None = None
    limit_type: LimitType = "GrpTRESMins"
    """How component limits become SLURM limits, unless a component says otherwise."""
    backend_id_max_retries: Annotated[int, Meta(ge=1, le=1000)] = 50
    """Names tried (`name`, `name-2`, ...) when an account name is taken by another project."""
    create_homedirs: bool = False
    """Home directories for users added to allocations (mkhomedir_helper)."""
    enable_user_homedir_account_creation: bool | None = None
    """Upstream's name for `create_homedirs`; either one set to true turns it on."""
    homedir_umask: Umask | None = None
    """The name upstream's example configs use; wins over `default_homedir_umask` when set."""
    homedir_skeleton: str = "/etc/skel"
    cancel_jobs_wait_seconds: Annotated[float, Meta(ge=0)] = 60.0
    """Terminate waits this long for cancelled jobs to end before the next cycle retries."""
    periodic_limits: PeriodicLimits | None = None
    """Waldur's periodic usage policies (fairshare, TRES limits); see `periodic`."""

    # Upstream keys without an implementation here: loaded while off, refused when on.
    root_account: str | None = None
    execution_mode: str = "cli"
    rest_api: dict[str, Any] | None = None
    qos_enforcement_enabled: bool = False
    enforce_offering_qos: bool | None = None
    enforce_offering_partitions: bool = False
    qos_management: dict[str, Any] | None = None
    project_directory: dict[str, Any] | None = None
    ldap: dict[str, Any] | None = None

    @property
    def periodic(self) -> PeriodicLimits:
        """`periodic_limits`, its defaults (off) when the key is absent or empty."""
        return self.periodic_limits or PeriodicLimits()

    @property
    def umask(self) -> str:
        return self.homedir_umask or self.default_homedir_umask

    @property
    def homedirs_enabled(self) -> bool:
        return self.create_homedirs or bool(self.enable_user_homedir_account_creation)


class SlurmComponent(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Extra keys a SLURM component may carry next to the standard ones."""

    tres: str | None = None
    """The TRES it maps to (`cpu`, `mem`, `gres/gpu`, `billing`); default: from its key."""
    limit_type: LimitType | None = None
    """Overrides the offering's `limit_type` for this component."""
    target_components: dict[str, Any] | None = None
    """Upstream's mapping of one component onto several TRES (refused when set)."""
