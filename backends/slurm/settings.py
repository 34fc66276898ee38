"""`backend_settings` and extra component keys of the SLURM plugin, validated when a config loads.

Upstream's key names are kept, so an operator's existing settings load unchanged; the features
this plugin does not have (slurmrestd mode, per-account QoS management, periodic limits, LDAP,
project directories, filesystem quotas) are not declared, so a config asking for them fails
validation with `unknown key` instead of being silently ignored.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

LimitType = Literal["GrpTRESMins", "MaxTRESMins", "GrpTRES"]
DefaultAccountPolicy = Literal["common", "individual", "none"]
Umask = Annotated[str, Meta(pattern=r"^0?[0-7]{3}$")]

# Waldur component keys that name a TRES differently; any other key is the TRES name itself.
TRES_OF_COMPONENT = {"gpu": "gres/gpu", "ram": "mem", "memory": "mem"}


class SlurmSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    default_account: str = "root"
    """Root of the tree: customer accounts are created under it."""
    customer_prefix: str = ""
    project_prefix: str = ""
    allocation_prefix: str = ""
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
    default_homedir_umask: Umask = "0077"
    homedir_skeleton: str = "/etc/skel"
    cancel_jobs_wait_seconds: Annotated[float, Meta(ge=0)] = 60.0
    """Terminate waits this long for cancelled jobs to end before the next cycle retries."""

    @property
    def homedirs_enabled(self) -> bool:
        return self.create_homedirs or bool(self.enable_user_homedir_account_creation)


class SlurmComponent(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Extra keys a SLURM component may carry next to the standard ones."""

    tres: str | None = None
    """The TRES it maps to (`cpu`, `mem`, `gres/gpu`, `billing`); default: from its key."""
    limit_type: LimitType | None = None
    """Overrides the offering's `limit_type` for this component."""
