"""`backend_settings` and extra component keys of the SLURM plugin, validated when a config loads.

Upstream's key names are kept, so an operator's existing settings load unchanged, and every rule
that can be checked before a command runs is checked here: a value that would only fail on the
cluster (a malformed QoS limit, a relative path, a quota with no limit) stops `validate`, naming
the key. The keys every backend shares come from `BackendSettings`; config/keys.py says what each
key does, and refuses by name any key this agent does not implement yet when a file turns it on.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from waldur_site_agent_actors.backends.component_mapping import TargetComponent
from waldur_site_agent_actors.backends.ldap.settings import LdapSettings
from waldur_site_agent_actors.config.homedirs import AbsolutePath, Count
from waldur_site_agent_actors.config.model import BackendSettings, Umask

LimitType = Literal["GrpTRESMins", "MaxTRESMins", "GrpTRES"]
LIMIT_TYPES: tuple[LimitType, ...] = ("GrpTRESMins", "MaxTRESMins", "GrpTRES")
DefaultAccountPolicy = Literal["common", "individual", "none"]
SafeName = Annotated[str, Meta(pattern=r"^[a-z_][a-z0-9_.-]*$", max_length=64)]
"""A Unix user or group name as it may reach `chown`."""
QosName = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_-]*$", max_length=64)]
TresName = Annotated[str, Meta(pattern=r"^[a-z][a-z0-9/_:-]*$", max_length=64)]
"""`cpu`, `gres/gpu`: a TRES, or a component key naming one (TRES_OF_COMPONENT)."""
TresList = Annotated[str, Meta(pattern=r"^[a-z][a-z0-9/_:-]*=[0-9]+(,[a-z][a-z0-9/_:-]*=[0-9]+)*$")]
"""`cpu=25600,node=100`, `gres/gpu=1`: a TRES limit list as sacctmgr takes it."""
QosFlags = Annotated[str, Meta(pattern=r"^[A-Za-z]+(,[A-Za-z]+)*$")]
WallTime = Annotated[str, Meta(pattern=r"^([0-9]+-)?[0-9]+(:[0-9]{1,2}){0,2}$")]
"""Minutes, `MM:SS`, `HH:MM:SS` or `D-HH:MM:SS`, as SLURM reads a time limit."""
JobCount = Annotated[int, Meta(ge=-1)]
EmulatorUrl = Annotated[str, Meta(pattern=r"^https?://[^/@\s]+(/\S*)?$")]
"""An http(s) address without credentials: it is shown in the outcome sent to Waldur."""
Octal = Annotated[str, Meta(pattern=r"^[0-7]{3,4}$")]

# Waldur component keys that name a TRES differently; any other key is the TRES name itself.
TRES_OF_COMPONENT = {"gpu": "gres/gpu", "ram": "mem", "memory": "mem"}


class Settings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Base of every nested settings block: unknown keys are errors, as at the top."""


class PeriodicLimits(Settings):
    """Upstream's `periodic_limits`: Waldur's periodic usage policies send fairshare and TRES
    limits per allocation (`resource_periodic_limits` events), applied by the backend's
    `apply_periodic_settings`."""

    enabled: bool = False
    limit_type: str = "GrpTRESMins"
    """For `grp_tres_mins`/`max_tres_mins` settings that name no `limit_type` themselves."""
    emulator_mode: bool = False
    """Upstream's development switch: settings go to a SLURM emulator's REST API, not sacctmgr."""
    emulator_base_url: EmulatorUrl | None = None
    """The emulator's address (upstream's default: http://localhost:8080)."""
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


class QosManagement(Settings):
    """Upstream's `qos_management`: a QoS of its own for every allocation (see `qos`)."""

    enabled: bool = False
    flags: QosFlags | None = "DenyOnLimit,NoDecay"
    grp_tres: TresList | None = None
    max_jobs: JobCount | None = None
    max_submit: JobCount | None = None
    max_wall: WallTime | None = None
    min_tres_per_job: TresList | None = None
    additional_qos: list[QosName] | None = None
    """Further QoS granted to every allocation account next to its own."""
    skip_qos_swap: bool = False
    """Pause, downscale and restore leave the account's QoS list alone (`GrpSubmitJobs`)."""
    apply_limits_to_qos: bool = False
    """The allocation's budget (GrpTRESMins) lives on its QoS, not on the account."""

    def __post_init__(self) -> None:
        if self.apply_limits_to_qos and not self.enabled:
            raise ValueError(
                "qos_management.apply_limits_to_qos needs qos_management.enabled: the budget "
                "is held on the allocation's own QoS, which only exists when it is on"
            )
        if self.apply_limits_to_qos and not self.skip_qos_swap:
            raise ValueError(
                "qos_management.apply_limits_to_qos needs qos_management.skip_qos_swap: a QoS "
                "swap on pause or restore would drop the QoS holding the budget"
            )


class LustreQuota(Settings):
    """`project_directory.lustre_quota`: a Lustre project quota on the project directory."""

    mount_point: AbsolutePath = "/valhalla"
    block_softlimit: Count | None = None
    """Kilobytes."""
    block_hardlimit: Count | None = None
    inode_softlimit: Count | None = None
    inode_hardlimit: Count | None = None

    def __post_init__(self) -> None:
        if _no_limit(self):
            raise ValueError("project_directory.lustre_quota sets no limit")


class ProjectDirectory(Settings):
    """Upstream's `project_directory`: a shared directory per allocation (see `storage`)."""

    enabled: bool = False
    base_path: AbsolutePath = "/valhalla/projects"
    owner: SafeName = "nobody"
    permissions: Octal = "770"
    set_gid: bool = True
    set_acl: bool = True
    group_owner_source: Literal["project_id", "group_name"] = "project_id"
    """`project_id`: the directory's group is the allocation account's name; `group_name`:
    the `group_name` below."""
    group_name: SafeName | None = None
    lustre_quota: LustreQuota | None = None

    def __post_init__(self) -> None:
        if self.group_owner_source == "group_name" and not self.group_name:
            raise ValueError("project_directory.group_owner_source: group_name needs group_name")


class RestApi(Settings):
    """Upstream's `rest_api`: how `execution_mode: rest` reaches slurmrestd."""

    url: str
    """`http(s)://host:port` or `unix:///path/to/slurmrestd.socket`."""
    username: str
    """The SLURM user the agent acts as (`X-SLURM-USER-NAME`); it must be a SLURM admin."""
    api_version: Annotated[str, Meta(pattern=r"^v\d+\.\d+\.\d+$")] | None = None
    """The OpenAPI data parser to speak (`v0.0.42`); default: the newest the server offers
    that this agent speaks. One the server does not offer is refused at start."""
    token_file: str | None = None
    """File holding the JWT (`scontrol token` output, with or without `SLURM_JWT=`); read
    again when slurmrestd refuses the token, so a rotated one is picked up."""
    token_env: str | None = None
    """Environment variable holding the JWT, when there is no `token_file`."""
    verify_ssl: bool = True
    timeout: Annotated[float, Meta(gt=0)] = 30.0

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://", "unix:///")):
            raise ValueError(
                f"rest_api.url {self.url!r} must start with http://, https:// or unix:///"
            )
        if not self.token_file and not self.token_env:
            raise ValueError("rest_api needs token_file or token_env (where the JWT is)")


class SlurmSettings(BackendSettings, kw_only=True, forbid_unknown_fields=True):
    default_account: str = "root"
    """Users' DefaultAccount (policy `common`), and the tree's root unless `root_account`."""
    root_account: str | None = None
    """Root of the tree: customer accounts are created under it (default: default_account)."""
    parent_account: str | None = None
    """Flat tree: project accounts directly under this account, no customer accounts."""
    default_account_policy: DefaultAccountPolicy = "common"
    """A new user's DefaultAccount: `common` = default_account, `individual` = the allocation,
    `none` = left to slurmdbd (the user's first association)."""
    cluster_name: str | None = None
    """Scope every sacctmgr/sacct/scancel call to this cluster."""
    slurm_bin_path: str = "/usr/bin"
    default_partition: str | None = None
    """Partition of new user associations when no other partition applies; none = all."""
    qos_default: str | None = None
    """QoS of a restored account; `normal` when unset."""
    qos_downscaled: str | None = None
    qos_paused: str | None = None
    limit_type: LimitType = "GrpTRESMins"
    """How component limits become SLURM limits, unless a component says otherwise."""
    create_homedirs: bool | None = None
    """Home directories for users added to allocations (mkhomedir_helper); on by default."""
    homedir_umask: Umask | None = None
    """The name upstream's example configs use; wins over `default_homedir_umask` when set."""
    homedir_skeleton: str = "/etc/skel"
    cancel_jobs_wait_seconds: Annotated[float, Meta(ge=0)] = 60.0
    """Terminate waits this long for cancelled jobs to end before the next cycle retries."""
    periodic_limits: PeriodicLimits | None = None
    """Waldur's periodic usage policies (fairshare, TRES limits); see `periodic`."""
    qos_management: QosManagement | None = None
    qos_enforcement_enabled: bool = False
    """Master switch: the order's QoS is granted on users' associations only when on."""
    enforce_offering_qos: bool | None = None
    """With `qos_enforcement_enabled`: true/false force it, unset follows the offering's
    `plugin_options.enforce_qos`."""
    enforce_offering_partitions: bool = False
    """Users' associations are limited to the offering's partitions (from Waldur)."""
    project_directory: ProjectDirectory | None = None

    # slurmrestd and LDAP (backends.slurm.rest, backends.ldap).
    execution_mode: Literal["cli", "rest"] = "cli"
    """`rest`: accounts, associations, QoS and jobs through slurmrestd (usage still sacct)."""
    rest_api: RestApi | None = None
    ldap: LdapSettings | None = None
    """A posixGroup per allocation with its members, in this directory (upstream's `ldap`)."""

    def __post_init__(self) -> None:
        if (
            self.create_homedirs is not None
            and self.enable_user_homedir_account_creation is not None
            and self.create_homedirs != self.enable_user_homedir_account_creation
        ):
            raise ValueError(
                "create_homedirs and enable_user_homedir_account_creation disagree "
                "(they are one setting under two names)"
            )
        self._check_qos_swap()
        if self.execution_mode == "rest":
            if self.rest_api is None:
                raise ValueError("execution_mode: rest needs rest_api (slurmrestd's url, token)")
            if not self.cluster_name:
                raise ValueError("execution_mode: rest needs cluster_name (REST calls name it)")

    def _check_qos_swap(self) -> None:
        """Pause and restore by QoS swap cannot coexist with QoS the agent must keep."""
        swap_names = [k for k in ("qos_paused", "qos_downscaled") if getattr(self, k)]
        if self.qos.skip_qos_swap and (swap_names or self.qos_default):
            raise ValueError(
                f"qos_management.skip_qos_swap: {', '.join(swap_names or ['qos_default'])} "
                "would never be applied (pause and restore use GrpSubmitJobs); remove it"
            )
        if self.qos_enforcement_enabled and self.enforce_offering_qos and swap_names:
            raise ValueError(
                "qos_enforcement_enabled with enforce_offering_qos: "
                f"{', '.join(swap_names)} would replace the QoS granted to users (pause uses "
                "GrpSubmitJobs when QoS is enforced); remove it"
            )

    @property
    def periodic(self) -> PeriodicLimits:
        """`periodic_limits`, its defaults (off) when the key is absent or empty."""
        return self.periodic_limits or PeriodicLimits()

    @property
    def qos(self) -> QosManagement:
        return self.qos_management or QosManagement()

    @property
    def project_dirs(self) -> ProjectDirectory:
        return self.project_directory or ProjectDirectory()

    @property
    def tree_root(self) -> str:
        return self.root_account or self.default_account

    @property
    def restore_qos(self) -> str:
        return self.qos_default or "normal"

    @property
    def umask(self) -> str:
        return self.homedir_umask or self.default_homedir_umask

    @property
    def homedirs_enabled(self) -> bool:
        for value in (self.create_homedirs, self.enable_user_homedir_account_creation):
            if value is not None:
                return value
        return True


class SlurmComponent(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Extra keys a SLURM component may carry next to the standard ones."""

    tres: TresName | None = None
    """The TRES it maps to (`cpu`, `mem`, `gres/gpu`, `billing`); default: from its key."""
    limit_type: LimitType | None = None
    """Overrides the offering's `limit_type` for this component (and its targets)."""
    target_components: dict[TresName, TargetComponent] | None = None
    """Upstream's mapping of this Waldur component onto several TRES, each with a factor
    (`node_hours: {cpu: {factor: 64}, gpu: {factor: 8}}`): limits go out multiplied, usage
    comes back divided (backends.component_mapping). Targets are named like component keys
    (`gpu` is `gres/gpu`) or as TRES; `unit_factor` stays 1."""

    def __post_init__(self) -> None:
        if self.target_components is not None and self.tres:
            raise ValueError(
                "tres and target_components exclude each other: the targets name the TRES"
            )


def _no_limit(quota: msgspec.Struct) -> bool:
    return all(
        getattr(quota, key) is None
        for key in ("block_softlimit", "block_hardlimit", "inode_softlimit", "inode_hardlimit")
    )


TRES_ITEM = re.compile(r"([^=,]+)=([0-9]+)")


def tres_names(text: str | None) -> list[str]:
    """The TRES names of a `cpu=1,node=2` list (the cluster must account for them)."""
    return [m.group(1) for m in TRES_ITEM.finditer(text or "")]
