"""Filesystem quotas: on users' home directories (`homedir_quota`) and on project directories
(`project_directory.lustre_quota`), with the tools and argument formats upstream uses.

- `ceph_xattr`: `setfattr -n ceph.quota.max_bytes|max_files -v N DIR`, read back with `getfattr`;
- `xfs`: `xfs_quota -x -c "limit -u bsoft=.. bhard=.. isoft=.. ihard=.. USER" MOUNT`;
- `lustre`: `lfs setquota -u USER [-b N] [-B N] [-i N] [-I N] MOUNT`; a project directory gets
  `lfs setquota -p GID ... MOUNT` and `lfs project -p GID -r -s DIR`.

Each quota is read back after it is set (`getfattr`, `xfs_quota -c "quota ..."`, `lfs quota`) and
the answer logged, so an operator can see that the filesystem took it. The names and numbers on
these command lines are checked before: users by `naming.user`, the rest at `validate`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from waldur_site_agent_actors.backends.exceptions import BackendError
from waldur_site_agent_actors.backends.slurm import naming
from waldur_site_agent_actors.backends.slurm.settings import LustreQuota
from waldur_site_agent_actors.config.homedirs import HomedirQuota

log = logging.getLogger("backends.slurm")

Run = Callable[[Sequence[str]], str]


def apply_homedir_quota(run: Run, config: HomedirQuota, username: str, homedir: str) -> None:
    naming.user(username)
    if config.provider == "ceph_xattr":
        for name, value in (("max_bytes", config.max_bytes), ("max_files", config.max_files)):
            if value is not None:
                _set_xattr(run, homedir, f"ceph.quota.{name}", str(value))
    elif config.provider == "xfs":
        limits = " ".join(
            f"{short}={value}"
            for short, value in (
                ("bsoft", config.block_softlimit),
                ("bhard", config.block_hardlimit),
                ("isoft", config.inode_softlimit),
                ("ihard", config.inode_hardlimit),
            )
            if value is not None
        )
        mount = str(config.mount_point)
        run(["xfs_quota", "-x", "-c", f"limit -u {limits} {username}", mount])
        shown = run(["xfs_quota", "-x", "-c", f"quota -u -N -b -h {username}", mount])
        log.info("XFS quota of %s on %s: %s", username, mount, " ".join(shown.split()))
    else:
        mount = str(config.mount_point)
        run(["lfs", "setquota", "-u", username, *_lfs_limits(config), mount])
        shown = run(["lfs", "quota", "-u", username, mount])
        log.info("Lustre quota of %s on %s: %s", username, mount, " ".join(shown.split()))


def apply_project_quota(run: Run, config: LustreQuota, gid: int, directory: str) -> None:
    """A Lustre project quota numbered as the project's group, and the directory in it."""
    project = str(int(gid))
    run(["lfs", "setquota", "-p", project, *_lfs_limits(config), config.mount_point])
    run(["lfs", "project", "-p", project, "-r", "-s", directory])
    log.info("Lustre project quota %s on %s for %s", project, config.mount_point, directory)


def _lfs_limits(config: HomedirQuota | LustreQuota) -> list[str]:
    args = []
    for flag, value in (
        ("-b", config.block_softlimit),
        ("-B", config.block_hardlimit),
        ("-i", config.inode_softlimit),
        ("-I", config.inode_hardlimit),
    ):
        if value is not None:
            args += [flag, str(value)]
    return args


def _set_xattr(run: Run, path: str, name: str, value: str) -> None:
    run(["setfattr", "-n", name, "-v", value, path])
    actual = run(["getfattr", "--only-values", "--absolute-names", "-n", name, path]).strip()
    if actual != value:
        raise BackendError(f"{name} of {path} reads {actual!r} after setting {value!r}")
    log.info("%s=%s on %s", name, value, path)
