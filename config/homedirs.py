"""Home-directory settings upstream's core reads from every backend's `backend_settings`.

Only backends that make home directories (SLURM) act on them; they are declared once here so
every plugin's settings share one definition and one set of checks.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

AbsolutePath = Annotated[str, Meta(pattern=r"^/[^\x00-\x1f]*$", max_length=1024)]
BasePath = Annotated[str, Meta(pattern=r"^(/[^\x00-\x1f]*)?$", max_length=1024)]
"""An absolute path, or empty for none (upstream's files carry `homedir_base_path: ""`)."""
Count = Annotated[int, Meta(ge=0)]
BlockSize = Annotated[str, Meta(pattern=r"^[0-9]+[kKmMgGtTpPeE]?$")]
"""A block limit: a number, optionally with the k/m/g/t/p/e suffix xfs_quota and lfs read."""
CephBytes = Annotated[str, Meta(pattern=r"^[0-9]+([KMGTPE]i?)?$")]

QuotaProvider = Literal["ceph_xattr", "xfs", "lustre"]
PROVIDER_KEYS: dict[str, tuple[str, ...]] = {
    "ceph_xattr": ("max_bytes", "max_files"),
    "xfs": ("block_softlimit", "block_hardlimit", "inode_softlimit", "inode_hardlimit"),
    "lustre": ("block_softlimit", "block_hardlimit", "inode_softlimit", "inode_hardlimit"),
}


class HomedirQuota(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Upstream's `homedir_quota`: a quota on every home directory the agent creates."""

    provider: QuotaProvider
    max_bytes: CephBytes | None = None
    max_files: Count | None = None
    mount_point: AbsolutePath | None = None
    block_softlimit: BlockSize | None = None
    block_hardlimit: BlockSize | None = None
    inode_softlimit: Count | None = None
    inode_hardlimit: Count | None = None

    def __post_init__(self) -> None:
        used = PROVIDER_KEYS[self.provider]
        ignored = [
            key
            for keys in PROVIDER_KEYS.values()
            for key in keys
            if key not in used and getattr(self, key) is not None
        ]
        if ignored:
            raise ValueError(
                f"homedir_quota: {', '.join(sorted(set(ignored)))} not used by the "
                f"{self.provider} provider"
            )
        if all(getattr(self, key) is None for key in used):
            raise ValueError(f"homedir_quota sets no limit ({', '.join(used)})")
        if self.provider == "ceph_xattr":
            if self.mount_point:
                raise ValueError("homedir_quota: mount_point not used by the ceph_xattr provider")
        elif not self.mount_point:
            raise ValueError(f"homedir_quota: the {self.provider} provider needs mount_point")
