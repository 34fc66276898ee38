"""Project directories (`project_directory`): a shared directory per allocation account.

`<base_path>/<account>` is created with upstream's commands: `mkdir -p`, `chmod PERMISSIONS`,
`chmod g+s` (with `set_gid`), `chown OWNER:GROUP`, `setfacl -R -m
group:GROUP:rwx,d:group:GROUP:rwx` (with `set_acl`) and, with `lustre_quota`, a Lustre project
quota numbered as the group's gid. The group is the account's name (`group_owner_source:
project_id`, e.g. a posixGroup the site's directory service creates for it) or a fixed
`group_name`. As upstream, a failing step is logged and the order still completes: the account
is what the customer ordered, the directory is the site's convenience.
"""

from __future__ import annotations

import grp
import logging
import os
from collections.abc import Callable, Sequence

from waldur_site_agent_actors.backends.exceptions import BackendError
from waldur_site_agent_actors.backends.slurm import naming, quotas
from waldur_site_agent_actors.backends.slurm.settings import ProjectDirectory

log = logging.getLogger("backends.slurm")

Run = Callable[[Sequence[str]], str]
GidOf = Callable[[str], int | None]


def system_gid(group: str) -> int | None:
    """The group's gid as the system resolves it (files, LDAP through NSS, ...)."""
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        return None


def group_of(config: ProjectDirectory, account: str) -> str:
    if config.group_owner_source == "group_name" and config.group_name:
        return config.group_name
    return naming.account(account)


def path_of(config: ProjectDirectory, account: str) -> str:
    return os.path.join(config.base_path, naming.account(account))


def ensure(config: ProjectDirectory, account: str, run: Run, gid_of: GidOf = system_gid) -> bool:
    """Create and set up the account's directory; False when a step failed (logged)."""
    path, group = path_of(config, account), group_of(config, account)
    try:
        run(["mkdir", "-p", path])
        run(["chmod", config.permissions, path])
        if config.set_gid:
            run(["chmod", "g+s", path])
    except BackendError as exc:
        log.error("project directory %s not created: %s", path, exc)
        return False
    ok = True
    steps: list[tuple[str, list[str]]] = [("chown", ["chown", f"{config.owner}:{group}", path])]
    if config.set_acl:
        acl = f"group:{group}:rwx,d:group:{group}:rwx"
        steps.append(("ACL", ["setfacl", "-R", "-m", acl, path]))
    for what, argv in steps:
        try:
            run(argv)
        except BackendError as exc:
            log.error("project directory %s: %s failed: %s", path, what, exc)
            ok = False
    if config.lustre_quota is not None:
        gid = gid_of(group)
        if gid is None:
            log.error("project directory %s: no gid for group %s, no Lustre quota", path, group)
            return False
        try:
            quotas.apply_project_quota(run, config.lustre_quota, gid, path)
        except BackendError as exc:
            log.error("project directory %s: Lustre quota failed: %s", path, exc)
            return False
    log.info("project directory %s ready (group %s)", path, group)
    return ok
