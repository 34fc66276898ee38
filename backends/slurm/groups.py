"""The allocations' LDAP groups (`backend_settings.ldap`), as upstream's SLURM plugin keeps them.

Each allocation account has a posixGroup of the same name under `groups_ou` (object classes
`project_group_object_classes`, gid the next free one in the gid range), its `memberUid`s the
allocation's users: a user joins the group before the association is made and leaves it before
the association goes, so a failure in either is retried by the next membership cycle. The group
goes with the allocation. Its gid is what a Lustre project quota of the allocation's directory
is keyed on (`gid`).

Names reach the directory already checked by `backends.slurm.naming` (and escaped by it).
"""

from __future__ import annotations

from waldur_site_agent_actors.backends.ldap.settings import LdapSettings
from waldur_site_agent_actors.backends.slurm import naming


class ProjectGroups:
    def __init__(self, settings: LdapSettings) -> None:
        # ldap3 is an optional dependency: imported only when `ldap` is configured.
        from waldur_site_agent_actors.backends.ldap.directory import Directory

        self.settings = settings
        self.directory = Directory(settings)

    def ensure(self, account: str) -> int:
        """The allocation's group, created when missing; returns its gid."""
        return self.directory.ensure_group(
            naming.account(account), self.settings.project_group_classes
        )

    def gid(self, account: str) -> int | None:
        """The allocation group's gid (Lustre project quotas), None when it has no group."""
        return self.directory.group_gid(naming.account(account))

    def add(self, account: str, username: str) -> bool:
        return self.directory.add_member(naming.account(account), naming.user(username))

    def remove(self, account: str, username: str) -> bool:
        return self.directory.remove_member(naming.account(account), naming.user(username))

    def delete(self, account: str) -> bool:
        return self.directory.delete_group(naming.account(account))

    def check(self) -> str:
        """What `diagnostics` reports: the server answers and the groups OU exists."""
        self.directory.ping()
        return f"{self.settings.uri}, groups under {self.settings.groups_dn}"


def open_groups(settings: LdapSettings | None) -> ProjectGroups | None:
    return ProjectGroups(settings) if settings is not None else None
