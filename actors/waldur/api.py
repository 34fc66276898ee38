"""One Waldur, as the actors see it: the typed operations grouped by concern."""

from __future__ import annotations

import pykka

from waldur_site_agent_actors.actors.waldur.agents import Agents
from waldur_site_agent_actors.actors.waldur.api_keys import ApiKeys
from waldur_site_agent_actors.actors.waldur.client import WaldurClient
from waldur_site_agent_actors.actors.waldur.imports import BackendImports
from waldur_site_agent_actors.actors.waldur.models import UserMe, Version
from waldur_site_agent_actors.actors.waldur.offering_users import OfferingUsers
from waldur_site_agent_actors.actors.waldur.offerings import Offerings
from waldur_site_agent_actors.actors.waldur.orders import Orders
from waldur_site_agent_actors.actors.waldur.projects import Projects
from waldur_site_agent_actors.actors.waldur.resources import Resources
from waldur_site_agent_actors.actors.waldur.usages import Usages


class WaldurApi:
    """Hosted by a WaldurActor: its groups are reachable through the actor's proxy."""

    def __init__(self, client: WaldurClient) -> None:
        self.client = client
        self.orders = pykka.traversable(Orders(client))
        self.resources = pykka.traversable(Resources(client))
        self.offerings = pykka.traversable(Offerings(client))
        self.offering_users = pykka.traversable(OfferingUsers(client))
        self.usages = pykka.traversable(Usages(client))
        self.agents = pykka.traversable(Agents(client))
        self.projects = pykka.traversable(Projects(client))
        self.imports = pykka.traversable(BackendImports(client))
        self.api_keys = pykka.traversable(ApiKeys(client))

    def me(self) -> UserMe:
        return self.client.get("users/me/", UserMe, {"field": ["uuid", "username", "is_staff"]})

    def version(self) -> Version:
        return self.client.get("version/", Version)
