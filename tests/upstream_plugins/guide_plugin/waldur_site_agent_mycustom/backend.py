"""`MyCustomBackend`: the guide's abstract methods, hooks and usage report format."""

from uuid import UUID

from waldur_site_agent.backend import logger
from waldur_site_agent.backend.backends import BaseBackend

from waldur_site_agent_mycustom.client import MyCustomClient


class MyCustomBackend(BaseBackend):
    def __init__(self, backend_settings, backend_components):
        super().__init__(backend_settings, backend_components)
        self.backend_type = "mycustom"
        self.client = MyCustomClient(backend_settings["state_file"])

    def ping(self, raise_exception: bool = False) -> bool:
        return True

    def diagnostics(self) -> bool:
        logger.info("mycustom keeps its accounts in %s", self.client.path)
        return True

    def list_components(self) -> list[str]:
        return list(self.backend_components)

    def _get_usage_report(self, resource_backend_ids: list[str]) -> dict:
        """Backend amounts divided by `unit_factor`; TOTAL_ACCOUNT_USAGE the sum of the users."""
        report: dict = {}
        for account in resource_backend_ids:
            report[account] = {
                "TOTAL_ACCOUNT_USAGE": {component: 0 for component in self.backend_components}
            }
        for account, user, component, amount in self.client.get_usage_report(resource_backend_ids):
            if component not in self.backend_components:
                continue
            factor = self.backend_components[component].get("unit_factor", 1)
            value = amount / factor
            users = report[account].setdefault(user, {})
            users[component] = users.get(component, 0) + value
            total = report[account]["TOTAL_ACCOUNT_USAGE"]
            total[component] = total.get(component, 0) + value
        return report

    def _collect_resource_limits(self, waldur_resource) -> tuple[dict, dict]:
        backend_limits, waldur_limits = {}, {}
        for key, component in self.backend_components.items():
            if component.get("accounting_type") == "limit" and key in waldur_resource.limits:
                value = waldur_resource.limits[key]
            elif component.get("limit") is not None:
                value = component["limit"]
            else:
                continue
            waldur_limits[key] = value
            backend_limits[key] = int(value * component.get("unit_factor", 1))
        return backend_limits, waldur_limits

    @staticmethod
    def _resolve_ssh_key(key_value: str, ssh_keys: dict[str, str]) -> str:
        """Resolve SSH key from pre-resolved context.

        If key_value is a UUID, look it up. Otherwise treat as raw key text.
        """
        try:
            key_uuid = UUID(key_value.strip())
        except ValueError:
            return key_value  # Raw public key text, use as-is

        return ssh_keys.get(str(key_uuid), "") or ssh_keys.get(key_uuid.hex, "")

    def _pre_create_resource(self, waldur_resource, user_context=None):
        user_context = user_context or {}
        ssh_keys = user_context.get("ssh_keys", {})
        raw_key = waldur_resource.attributes.get("ssh_public_key", "")
        resolved_key = self._resolve_ssh_key(raw_key, ssh_keys)
        # Use resolved_key for resource setup ...
        self.resolved_key = resolved_key
        self.plan_quotas = user_context.get("plan_quotas", {})
        self.team = [user.username for user in user_context.get("team", [])]

    def post_create_resource(self, resource, waldur_resource, user_context=None):
        resource.backend_metadata = {
            "ssh_key": self.resolved_key,
            "plan_quotas": self.plan_quotas,
            "team": sorted(self.team),
        }

    def downscale_resource(self, resource_backend_id: str) -> bool:
        return True

    def pause_resource(self, resource_backend_id: str) -> bool:
        return True

    def restore_resource(self, resource_backend_id: str) -> bool:
        return True

    def get_resource_metadata(self, resource_backend_id: str) -> dict:
        return {}
