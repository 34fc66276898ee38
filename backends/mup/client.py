"""`BaseClient` over MUP: a resource is the set of its allocations, one per component.

A resource's backend id is `<allocation_prefix><resource uuid>`; its allocation for component
`cpu` has the identifier `<backend id>_cpu`, so each is found directly by identifier. A resource
exists while at least one of its allocations is active. Membership belongs to the MUP project the
allocations live in, which the Waldur project's resources share, as they share its team.
"""

from __future__ import annotations

from waldur_site_agent_actors.backends.client import BaseClient
from waldur_site_agent_actors.backends.exceptions import BackendError
from waldur_site_agent_actors.backends.mup.api import MupApi, Obj
from waldur_site_agent_actors.backends.structures import Association, ClientResource

UsageRow = tuple[str, str, str | None, float]
"""(resource id, component, username or None for the allocation's total, amount in MUP units)."""


class MupClient(BaseClient):
    def __init__(self, api: MupApi, allocation_types: dict[str, str]) -> None:
        self.api = api
        self.allocation_types = allocation_types  # component -> MUP allocation type
        self._projects: dict[str, int] = {}  # an allocation never changes project: cached

    def allocations_of(self, resource_id: str) -> dict[str, Obj]:
        """The resource's allocations by component (active or not)."""
        found = {}
        for component in self.allocation_types:
            allocation = self.api.allocation_by_identifier(f"{resource_id}_{component}")
            if allocation is not None:
                found[component] = allocation
        return found

    def project_of(self, resource_id: str) -> int:
        if resource_id not in self._projects:
            allocations = self.allocations_of(resource_id)
            if not allocations:
                raise BackendError(f"MUP has no allocations of resource {resource_id!r}")
            self._projects[resource_id] = int(next(iter(allocations.values()))["project"])
        return self._projects[resource_id]

    def list_resources(self) -> list[ClientResource]:
        resources: dict[str, ClientResource] = {}
        suffixes = tuple(f"_{component}" for component in self.allocation_types)
        for project in self.api.projects():
            for allocation in self.api.allocations(project["id"]):
                identifier = str(allocation["identifier"])
                suffix = next((s for s in suffixes if identifier.endswith(s)), None)
                if allocation["active"] and suffix is not None:
                    resource_id = identifier.removesuffix(suffix)
                    resources[resource_id] = ClientResource(
                        name=resource_id,
                        description=str(project["title"]),
                        organization=str(project["grant_number"]),
                        backend_id=resource_id,
                    )
        return list(resources.values())

    def get_resource(self, resource_id: str) -> ClientResource | None:
        allocations = [a for a in self.allocations_of(resource_id).values() if a["active"]]
        if not allocations:
            return None
        return ClientResource(
            name=resource_id,
            organization=str(allocations[0]["project"]),
            backend_id=resource_id,
        )

    def create_resource(
        self, name: str, description: str, organization: str, parent_name: str | None = None
    ) -> str:
        """One allocation per component in MUP project `parent_name`, of size 0 until limits are
        set; allocations left inactive by an earlier termination are activated again."""
        if not parent_name:
            raise BackendError(f"resource {name!r} needs the MUP project to create it in")
        existing = self.allocations_of(name)
        for component, allocation_type in self.allocation_types.items():
            allocation = existing.get(component)
            if allocation is None:
                body = {
                    "type": allocation_type,
                    "identifier": f"{name}_{component}",
                    "size": 0,
                    "used": 0,
                    "active": True,
                    "project": int(parent_name),
                }
                self.api.create_allocation(int(parent_name), body)
            elif not allocation["active"]:
                self.api.edit_allocation(allocation, active=True)
        return name

    def delete_resource(self, name: str) -> str:
        """MUP keeps allocations: they are deactivated, and so is their project once it has no
        active allocation left (resources of other Waldur orders may still use it)."""
        project_id = None
        for allocation in self.allocations_of(name).values():
            project_id = int(allocation["project"])
            if allocation["active"]:
                self.api.edit_allocation(allocation, active=False)
        if project_id is not None and not any(
            a["active"] for a in self.api.allocations(project_id)
        ):
            self.api.set_project_active(project_id, False)
        return name

    def set_resource_limits(self, resource_id: str, limits_dict: dict[str, int]) -> str | None:
        allocations = self.allocations_of(resource_id)
        for component, size in limits_dict.items():
            allocation = allocations.get(component)
            if allocation is None:
                raise BackendError(
                    f"MUP has no {component!r} allocation of resource {resource_id!r}"
                )
            if allocation["size"] != size:
                self.api.edit_allocation(allocation, size=int(size))
        return resource_id

    def get_resource_limits(self, resource_id: str) -> dict[str, int]:
        return {c: int(a["size"]) for c, a in self.allocations_of(resource_id).items()}

    def get_resource_user_limits(self, resource_id: str) -> dict[str, dict[str, int]]:
        return {}  # MUP allocations have no per-user limits

    def set_resource_user_limits(
        self, resource_id: str, username: str, limits_dict: dict[str, int]
    ) -> str:
        raise BackendError("MUP allocations have no per-user limits")

    def member(self, username: str, resource_id: str) -> tuple[int, Obj | None]:
        """(project id, the user's membership in it or None)."""
        project_id = self.project_of(resource_id)
        for member in self.api.members(project_id):
            if member["username"] == username:
                return project_id, member
        return project_id, None

    def get_association(self, user: str, resource_id: str) -> Association | None:
        _, member = self.member(user, resource_id)
        if member is None or not member["active"]:
            return None
        return Association(account=resource_id, user=user, value=1)

    def create_association(
        self, username: str, resource_id: str, default_account: str | None = None
    ) -> str:
        """Membership of an existing MUP user (the backend registers users first)."""
        project_id, member = self.member(username, resource_id)
        if member is not None:
            if not member["active"]:
                self.api.set_member_active(project_id, member["id"], True)
            return username
        user = self.api.user_by_username(username)
        if user is None:
            raise BackendError(f"MUP has no user {username!r}")
        self.api.add_member(project_id, user)
        return username

    def delete_association(self, username: str, resource_id: str) -> str:
        """MUP keeps memberships: a removed member is deactivated."""
        project_id, member = self.member(username, resource_id)
        if member is not None and member["active"]:
            self.api.set_member_active(project_id, member["id"], False)
        return username

    def get_usage_report(self, resource_ids: list[str]) -> list[UsageRow]:
        """MUP's usage of every allocation: its total and each user's share."""
        rows: list[UsageRow] = []
        for resource_id in resource_ids:
            for component, allocation in self.allocations_of(resource_id).items():
                usage = self.api.allocation_usage(allocation)
                rows.append((resource_id, component, None, float(usage.get("total") or 0)))
                for username, amount in (usage.get("users") or {}).items():
                    rows.append((resource_id, component, str(username), float(amount or 0)))
        return rows

    def list_resource_users(self, resource_id: str) -> list[str]:
        project_id = self.project_of(resource_id)
        return sorted(m["username"] for m in self.api.members(project_id) if m["active"])
