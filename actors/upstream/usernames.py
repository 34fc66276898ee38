"""An upstream username plugin (`AbstractUsernameManagementBackend`) behind this agent's API.

The actors ask it for names with this agent's `OfferingUserInfo`; it gets a `waldur_api_client`
`OfferingUser` carrying the same fields (upstream's others unset), and was constructed, as
upstream constructs it, with the offering's settings and upstream's model of the offering.
"""

from __future__ import annotations

from typing import Any

import msgspec
from waldur_site_agent.common.structures import Offering as UpstreamOffering

from waldur_site_agent_actors.actors.upstream import convert
from waldur_site_agent_actors.backends.discovery import component_dicts
from waldur_site_agent_actors.backends.usernames import OfferingUserInfo
from waldur_site_agent_actors.config.model import Offering


def upstream_offering(offering: Offering) -> UpstreamOffering:
    """The offering as upstream's config model holds it (keys upstream lacks are dropped)."""
    data = msgspec.to_builtins(offering)
    data["backend_components"] = component_dicts(offering.backend_components)
    data["backend_type"] = offering.backend_type or offering.backend_for("order")
    return UpstreamOffering.model_validate(data)


class UpstreamUsernames:
    def __init__(self, plugin: Any, translated: convert.Translator) -> None:
        self.plugin = plugin
        self.translated = translated

    @classmethod
    def create(cls, plugin_class: type, offering: Offering) -> UpstreamUsernames:
        translated = convert.Translator(offering.waldur_api_url)
        with translated():
            plugin = plugin_class(
                backend_settings=dict(offering.backend_settings),
                offering=upstream_offering(offering),
            )
        return cls(plugin, translated)

    def get_username(self, offering_user: OfferingUserInfo) -> str:
        with self.translated():
            return str(self.plugin.get_username(convert.offering_user(offering_user)) or "")

    def generate_username(self, offering_user: OfferingUserInfo) -> str:
        with self.translated():
            return str(self.plugin.generate_username(convert.offering_user(offering_user)) or "")

    def get_or_create_username(self, offering_user: OfferingUserInfo) -> str:
        return self.get_username(offering_user) or self.generate_username(offering_user)

    def sync_user_profiles(self, offering_users: list[OfferingUserInfo]) -> None:
        """Upstream's hook before each membership sync, given the offering's users."""
        models = [convert.offering_user(user) for user in offering_users]
        with self.translated():
            self.plugin.sync_user_profiles(models)
