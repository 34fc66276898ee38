"""The mup plugin: Waldur orders, teams and usage carried out against MUP's REST API."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import msgspec

from waldur_site_agent_actors.backends import backend_ids, units
from waldur_site_agent_actors.backends.base import LIMITED, BaseBackend, UserContext
from waldur_site_agent_actors.backends.exceptions import (
    BackendError,
    BackendNotReadyError,
    ConfigurationError,
)
from waldur_site_agent_actors.backends.mup import profiles
from waldur_site_agent_actors.backends.mup.api import MupApi, Obj
from waldur_site_agent_actors.backends.mup.client import MupClient
from waldur_site_agent_actors.backends.mup.settings import DEFAULT_ALLOCATION_TYPE, MupSettings
from waldur_site_agent_actors.backends.structures import (
    TOTAL_ACCOUNT_USAGE,
    BackendResourceInfo,
    UsageReport,
    WaldurResource,
)

PI_ROLE = "PROJECT.MANAGER"
UUID_HEX = 32
PROJECT_YEARS = 1


def grant_number(project_name: str) -> str:
    """MUP projects are keyed by grant number, which Waldur projects carry in their name:
    `Climate modelling / 2024.00042.CPCA` (the second `/`-separated part)."""
    parts = [part.strip() for part in project_name.split("/")]
    if len(parts) < 2 or not parts[1]:
        raise BackendError(
            f"Waldur project {project_name!r} names no grant number; MUP needs the project "
            f"named like 'Title / <grant number>'"
        )
    return parts[1]


def member_details(member: dict[str, Any]) -> dict[str, Any]:
    """What `add_users_to_resource` would be told of one member of a user context's team."""
    name = member["offering_user_username"]
    attributes = member.get("attributes") or {}
    return {
        "user_emails": {name: member.get("email") or attributes.get("email")},
        "user_attributes": {name: {"full_name": member.get("full_name") or "", **attributes}},
        "user_cuids": {name: member.get("username") or ""},
    }


class MupBackend(BaseBackend):
    def __init__(
        self, backend_settings: dict[str, Any], backend_components: dict[str, dict[str, Any]]
    ) -> None:
        super().__init__(backend_settings, backend_components)
        self.backend_type = "mup"
        try:
            self.settings = msgspec.convert(backend_settings, MupSettings)
        except msgspec.ValidationError as exc:
            raise ConfigurationError(f"mup backend_settings: {exc}") from None
        for key, component in self.backend_components.items():
            if component.get("accounting_type") not in LIMITED:
                raise ConfigurationError(
                    f"mup component {key!r} has accounting_type "
                    f"{component.get('accounting_type')!r}: MUP allocations are limits, so "
                    f"every component must be 'limit' (or prepaid 'one')"
                )
        self.api = MupApi(
            self.settings.api_url,
            self.settings.username,
            self.settings.password,
            timeout=self.settings.timeout,
            verify_ssl=self.settings.verify_ssl,
        )
        types = {
            key: str(c.get("mup_allocation_type") or DEFAULT_ALLOCATION_TYPE)
            for key, c in self.backend_components.items()
        }
        self.client = self.mup = MupClient(self.api, types)

    # -- health ---------------------------------------------------------------------------------

    def ping(self, raise_exception: bool = False) -> bool:
        return self._reachable("MUP", self.api.research_fields, raise_exception)

    def diagnostics(self) -> bool:
        fields = self.api.research_fields()
        projects = self.api.projects()
        self.log.info(
            "MUP %s as %r: %d research field(s), %d project(s); allocation types %s",
            self.api.base,
            self.settings.username,
            len(fields),
            len(projects),
            ", ".join(f"{k}={v!r}" for k, v in sorted(self.mup.allocation_types.items())),
        )
        return True

    def list_components(self) -> list[str]:
        return sorted(self.backend_components)

    # -- resources ------------------------------------------------------------------------------

    def resource_backend_id(self, waldur_resource: WaldurResource) -> str:
        prefix = self.settings.allocation_prefix
        return f"{prefix}{backend_ids.normal(waldur_resource.uuid)}".lower()

    def backend_id_owner(self, backend_id: str) -> str | None:
        """MUP allocations carry nothing but their identifier, so the owner record is the
        identifier itself: `<allocation_prefix><resource uuid>[-n]_<component>`."""
        if self.mup.get_resource(backend_id) is None:
            return None
        rest = backend_id.removeprefix(self.settings.allocation_prefix)
        owner = rest[:UUID_HEX]
        return owner if backend_id != rest and len(owner) == UUID_HEX else ""

    def _collect_resource_limits(
        self, waldur_resource: WaldurResource
    ) -> tuple[dict[str, int], dict[str, float]]:
        return self.component_limits(waldur_resource, fixed=False)

    def _pre_create_resource(
        self, waldur_resource: WaldurResource, user_context: UserContext | None = None
    ) -> None:
        """The Waldur project's MUP project exists and is active; created with its PI if not."""
        grant = grant_number(waldur_resource.project_name)
        project = self.api.project_by_grant(grant)
        if project is None:
            pi = self._principal_investigator(waldur_resource, user_context or {})
            today = date.today()
            project = self.api.create_project(
                {
                    "title": waldur_resource.project_name.split("/")[0].strip() or grant,
                    "description": f"Waldur project {waldur_resource.project_uuid}",
                    "pi": pi["email"],
                    "co_pi": "",
                    "science_field": self.settings.default_research_field,
                    "start_date": today.isoformat(),
                    "end_date": (today + timedelta(days=365 * PROJECT_YEARS)).isoformat(),
                    "agency": self.settings.default_agency,
                    "grant_number": grant,
                    "max_storage": self.settings.default_storage_limit,
                    "ai_included": False,
                }
            )
            self.log.info("created MUP project %s for grant %s", project["id"], grant)
        if not project["active"]:
            self.api.set_project_active(project["id"], True)

    def _principal_investigator(self, waldur_resource: WaldurResource, context: UserContext) -> Obj:
        """MUP's PI is the Waldur project's manager, once their offering account is ready."""
        managers = sorted(
            (
                t
                for t in context.get("team", [])
                if t.get("role") == PI_ROLE
                and t.get("offering_user_username")
                and t.get("offering_user_state") in (None, "OK")
            ),
            key=lambda t: str(t["offering_user_username"]),
        )
        if not managers:
            raise BackendNotReadyError(
                f"Waldur project {waldur_resource.project_name!r} has no manager with an active "
                f"account in this offering yet; MUP needs one as the project's PI"
            )
        pi = managers[0]
        user = self._mup_user(pi["offering_user_username"], member_details(pi))
        if not user.get("is_approved", True):
            raise BackendNotReadyError(f"the PI's MUP account {user['username']!r} awaits approval")
        return user

    def _parent_of(self, waldur_resource: WaldurResource) -> str:
        project = self.api.project_by_grant(grant_number(waldur_resource.project_name))
        if project is None:
            raise BackendError(f"MUP has no project for {waldur_resource.project_name!r}")
        return str(project["id"])

    def post_create_resource(
        self,
        resource: BackendResourceInfo,
        waldur_resource: WaldurResource,
        user_context: UserContext | None = None,
    ) -> None:
        resource.backend_metadata = self.get_resource_metadata(resource.backend_id)

    def get_resource_metadata(self, resource_backend_id: str) -> dict[str, Any]:
        allocations = self.mup.allocations_of(resource_backend_id)
        if not allocations:
            return {}
        return {
            "mup_project_id": next(iter(allocations.values()))["project"],
            "mup_allocations": {key: a["id"] for key, a in sorted(allocations.items())},
        }

    # MUP has no way to restrict an allocation short of removing it: these change nothing.

    def pause_resource(self, resource_backend_id: str) -> bool:
        return False

    def downscale_resource(self, resource_backend_id: str) -> bool:
        return False

    def restore_resource(self, resource_backend_id: str) -> bool:
        return False

    def set_resource_user_limits(
        self, resource_backend_id: str, username: str, limits: dict[str, float]
    ) -> None:
        self.log.warning(
            "per-user limits of %s on %s not applied: MUP has none", username, resource_backend_id
        )

    # -- users ----------------------------------------------------------------------------------

    def add_user(self, resource_backend_id: str, username: str, **kwargs: Any) -> bool:
        """Register the user in MUP when it does not know them, then make them a member."""
        if self.mup.get_association(username, resource_backend_id) is not None:
            return False
        user = self._mup_user(username, kwargs)
        if not user.get("is_approved", True):
            raise BackendError(f"MUP account {username!r} awaits approval before it can join")
        self.mup.create_association(username, resource_backend_id)
        return True

    def _mup_user(self, username: str, details: dict[str, Any]) -> Obj:
        """The MUP user named like the offering user; found by email, or registered from the
        Waldur profile (`user_emails`, `user_attributes`); given their MyAccessID
        (`user_cuids`) when MUP lacks it."""
        email = details.get("user_emails", {}).get(username)
        attributes = details.get("user_attributes", {}).get(username) or {}
        user = self.api.user_by_username(username)
        if user is None and email:
            user = self.api.user_by_email(email)
            if user is not None and user["username"] != username:
                raise BackendError(
                    f"MUP's account for {email} is named {user['username']!r}, not {username!r} "
                    f"as the offering user is; rename one of them"
                )
        if user is None:
            if not email:
                raise BackendError(f"MUP has no user {username!r} and Waldur gave no email")
            body = profiles.registration(username, email, attributes, self.settings)
            user = self.api.register_user(body)
            self.log.info("registered MUP user %s (%s)", username, email)
        cuid = details.get("user_cuids", {}).get(username)
        if cuid:
            self._ensure_myaccessid(user, str(cuid).strip())
        return user

    def _ensure_myaccessid(self, user: Obj, cuid: str) -> None:
        """As upstream: a failure here is logged, not fatal; the next sync tries again."""
        try:
            known = user if "user_ssh_keys" in user else self.api.user(int(user["id"])) or {}
            if not profiles.has_myaccessid(known, cuid):
                self.api.set_myaccessid(int(user["id"]), cuid)
                self.log.info("MUP user %s has MyAccessID %s now", user["username"], cuid)
        except BackendError as exc:
            self.log.warning("MyAccessID of MUP user %s not set: %s", user["username"], exc)

    # -- usage ----------------------------------------------------------------------------------

    def _get_usage_report(self, resource_backend_ids: list[str]) -> UsageReport:
        """MUP's figure per allocation (it counts since the allocation began), in Waldur units."""
        report: UsageReport = {}
        for resource_id, component, username, amount in self.mup.get_usage_report(
            resource_backend_ids
        ):
            value = units.usage_to_waldur(amount, self.unit_factor(component))
            usage = report.setdefault(resource_id, {})
            usage.setdefault(username or TOTAL_ACCOUNT_USAGE, {})[component] = value
        return report
