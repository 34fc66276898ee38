"""Home directories, their quotas and project directories on a real XFS filesystem
(`tests/services/quotafs`): directories, owners, the setgid bit, ACLs and xattrs are the
filesystem's own; quota tools this machine lacks are the stand-ins the service script names."""

from __future__ import annotations

import grp
import os
import pwd
import stat
import subprocess
import uuid

import pytest

from tests.slurm.conftest import resource
from waldur_site_agent_actors.backends.slurm.backend import SlurmBackend

COMPONENTS = {"cpu": {"accounting_type": "limit", "unit_factor": 1}}


@pytest.fixture
def unix_users(quotafs):
    """Unix users whose home directories are on the XFS filesystem; removed afterwards."""
    made: list[str] = []

    def make(base: str) -> str:
        name = f"q{uuid.uuid4().hex[:8]}"
        subprocess.run(
            ["useradd", "-M", "-d", f"{base}/{name}", "-s", "/bin/sh", name],
            check=True,
            capture_output=True,
        )
        made.append(name)
        return name

    yield make
    for name in made:
        subprocess.run(["userdel", name], capture_output=True)


def backend(**settings) -> SlurmBackend:
    return SlurmBackend({"allocation_prefix": "x_", **settings}, COMPONENTS)


@pytest.fixture
def homes(quotafs):
    base = quotafs.mount / f"home-{uuid.uuid4().hex[:6]}"
    base.mkdir()
    return base


def run(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def test_home_directories_are_on_by_default_and_skip_an_existing_base_path(homes, unix_users):
    user, other = unix_users(str(homes)), unix_users(str(homes))
    (homes / other).mkdir()  # made by the site already: not touched
    on = backend(homedir_base_path=str(homes))  # no homedir key: on, as upstream
    assert on.settings.homedirs_enabled
    assert on.create_user_homedirs({user, other}) == [user]
    made = os.stat(homes / user)
    assert made.st_uid == pwd.getpwnam(user).pw_uid
    assert stat.S_IMODE(made.st_mode) == 0o700  # umask 0077
    assert backend(enable_user_homedir_account_creation=False).settings.homedirs_enabled is False


def test_ceph_xattr_quota_on_a_new_home_directory(homes, unix_users):
    user = unix_users(str(homes))
    config = {"provider": "ceph_xattr", "max_bytes": "1073741824", "max_files": 1000}
    backend(homedir_base_path=str(homes), homedir_quota=config).create_user_homedirs({user})
    # The filesystem holds them (as user.* xattrs: XFS has no ceph namespace).
    shown = run("/usr/bin/getfattr", "--absolute-names", "-d", "-m", "user.ceph", f"{homes}/{user}")
    assert 'user.ceph.quota.max_bytes="1073741824"' in shown
    assert 'user.ceph.quota.max_files="1000"' in shown


def test_xfs_user_quota_on_the_home_filesystem(quotafs, homes, unix_users):
    user = unix_users(str(homes))
    config = {
        "provider": "xfs",
        "mount_point": str(quotafs.mount),
        "block_softlimit": "900m",
        "block_hardlimit": "1g",
        "inode_softlimit": 90,
        "inode_hardlimit": 100,
    }
    backend(homedir_base_path=str(homes), homedir_quota=config).create_user_homedirs({user})
    shown = run("xfs_quota", "-x", "-c", f"quota -u -N -b -h {user}", str(quotafs.mount))
    assert "900m" in shown.lower() or "900M" in shown, shown
    if quotafs.xfs_quota == "stand-in":
        recorded = quotafs.state("xfs-quotas.json")[str(quotafs.mount)][user]
        assert recorded == {"bsoft": "900m", "bhard": "1g", "isoft": "90", "ihard": "100"}


def test_lustre_user_quota_in_upstream_s_format(quotafs, homes, unix_users):
    user = unix_users(str(homes))
    config = {
        "provider": "lustre",
        "mount_point": str(quotafs.mount),
        "block_softlimit": "943718400",
        "inode_hardlimit": 100000,
    }
    backend(homedir_base_path=str(homes), homedir_quota=config).create_user_homedirs({user})
    recorded = quotafs.state("lfs-quotas.json")["user"][str(quotafs.mount)][user]
    assert recorded == {"block_soft": "943718400", "inode_hard": "100000"}


def test_quota_keys_are_checked_at_validate():
    for bad, message in (
        ({"provider": "xfs", "block_softlimit": "1g"}, "needs mount_point"),
        ({"provider": "ceph_xattr", "max_bytes": "1; rm -rf /"}, "max_bytes"),
        ({"provider": "lustre", "mount_point": "/l", "max_files": 3}, "not used by the lustre"),
        ({"provider": "xfs", "mount_point": "/x"}, "sets no limit"),
    ):
        with pytest.raises(Exception, match=message):
            backend(homedir_quota=bad)


@pytest.mark.slurm
def test_project_directory_with_acl_setgid_and_lustre_project_quota(quotafs, make_backend, run_id):
    base = quotafs.mount / f"projects-{run_id}"
    target = resource()
    account = f"a{run_id}_climate-run"
    subprocess.run(["groupadd", account], check=True, capture_output=True)
    try:
        backend = make_backend(
            project_directory={
                "enabled": True,
                "base_path": str(base),
                "owner": "nobody",
                "permissions": "770",
                "lustre_quota": {
                    "mount_point": str(quotafs.mount),
                    "block_softlimit": 5368709120,
                    "inode_hardlimit": 7000000,
                },
            }
        )
        backend.create_resource_with_id(target, backend.resource_backend_id(target))
        path = base / account
        info = os.stat(path)
        gid = grp.getgrnam(account).gr_gid
        assert (info.st_uid, info.st_gid) == (pwd.getpwnam("nobody").pw_uid, gid)
        assert stat.S_IMODE(info.st_mode) == 0o2770  # 770 and setgid
        acl = run("getfacl", "--absolute-names", "--omit-header", str(path))
        assert f"group:{account}:rwx" in acl and f"default:group:{account}:rwx" in acl
        lfs = quotafs.state("lfs-quotas.json")
        assert lfs["project"][str(quotafs.mount)][str(gid)] == {
            "block_soft": "5368709120",
            "inode_hard": "7000000",
        }
        assert lfs["directories"][str(path)] == gid
    finally:
        subprocess.run(["groupdel", account], capture_output=True)
