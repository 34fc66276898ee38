"""One Waldur, as the actors see it: the typed operations grouped by concern.

`WaldurApi` lives in a WaldurActor; the other actors hold `WaldurApiProxy`, the same groups
and operations through the actor's proxy, each call returning a future (Mopidy's typed proxies:
mypy checks every call). A new operation of a group gets its line in the group's proxy.
"""

from __future__ import annotations

from pykka.typing import proxy_method

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
        self.orders = Orders(client)
        self.resources = Resources(client)
        self.offerings = Offerings(client)
        self.offering_users = OfferingUsers(client)
        self.usages = Usages(client)
        self.agents = Agents(client)
        self.projects = Projects(client)
        self.imports = BackendImports(client)
        self.api_keys = ApiKeys(client)

    def me(self) -> UserMe:
        return self.client.get("users/me/", UserMe, {"field": ["uuid", "username", "is_staff"]})

    def version(self) -> Version:
        return self.client.get("version/", Version)


class OrdersProxy:
    actionable = proxy_method(Orders.actionable)
    get = proxy_method(Orders.get)
    approve = proxy_method(Orders.approve)
    reject = proxy_method(Orders.reject)
    set_done = proxy_method(Orders.set_done)
    set_erred = proxy_method(Orders.set_erred)
    set_backend_id = proxy_method(Orders.set_backend_id)


class ResourcesProxy:
    get = proxy_method(Resources.get)
    of_offering = proxy_method(Resources.of_offering)
    of_project = proxy_method(Resources.of_project)
    team = proxy_method(Resources.team)
    set_backend_id = proxy_method(Resources.set_backend_id)
    set_limits = proxy_method(Resources.set_limits)
    set_effective_id = proxy_method(Resources.set_effective_id)
    set_end_date = proxy_method(Resources.set_end_date)
    set_backend_metadata = proxy_method(Resources.set_backend_metadata)
    set_endpoints = proxy_method(Resources.set_endpoints)
    set_erred = proxy_method(Resources.set_erred)
    set_ok = proxy_method(Resources.set_ok)
    report_periodic_settings = proxy_method(Resources.report_periodic_settings)
    set_membership_sync_statuses = proxy_method(Resources.set_membership_sync_statuses)
    refresh_last_sync = proxy_method(Resources.refresh_last_sync)


class OfferingsProxy:
    get = proxy_method(Offerings.get)
    service_provider = proxy_method(Offerings.service_provider)
    plan = proxy_method(Offerings.plan)
    provider_ssh_keys = proxy_method(Offerings.provider_ssh_keys)
    is_backend_id_unique = proxy_method(Offerings.is_backend_id_unique)
    service_accounts = proxy_method(Offerings.service_accounts)
    course_accounts = proxy_method(Offerings.course_accounts)


class OfferingUsersProxy:
    of_offering = proxy_method(OfferingUsers.of_offering)
    begin_creating = proxy_method(OfferingUsers.begin_creating)
    set_username = proxy_method(OfferingUsers.set_username)
    set_pending_account_linking = proxy_method(OfferingUsers.set_pending_account_linking)
    set_pending_additional_validation = proxy_method(
        OfferingUsers.set_pending_additional_validation
    )
    set_validation_complete = proxy_method(OfferingUsers.set_validation_complete)
    set_error_creating = proxy_method(OfferingUsers.set_error_creating)


class UsagesProxy:
    of_month = proxy_method(Usages.of_month)
    of_offering_month = proxy_method(Usages.of_offering_month)
    user_usages_of_month = proxy_method(Usages.user_usages_of_month)
    set_usage = proxy_method(Usages.set_usage)
    set_user_usages = proxy_method(Usages.set_user_usages)
    user_limits = proxy_method(Usages.user_limits)


class AgentsProxy:
    ensure_identity = proxy_method(Agents.ensure_identity)
    register_service = proxy_method(Agents.register_service)
    register_processor = proxy_method(Agents.register_processor)
    health_check = proxy_method(Agents.health_check)
    ship_logs = proxy_method(Agents.ship_logs)
    register_queue = proxy_method(Agents.register_queue)
    register_subscription = proxy_method(Agents.register_subscription)
    create_queue = proxy_method(Agents.create_queue)


class ProjectsProxy:
    dates = proxy_method(Projects.dates)
    set_end_date = proxy_method(Projects.set_end_date)


class ImportsProxy:
    request = proxy_method(BackendImports.request)
    waiting = proxy_method(BackendImports.waiting)
    start = proxy_method(BackendImports.start)
    done = proxy_method(BackendImports.done)
    erred = proxy_method(BackendImports.erred)
    offer = proxy_method(BackendImports.offer)
    project_by_slug = proxy_method(BackendImports.project_by_slug)


class ApiKeysProxy:
    of_resource = proxy_method(ApiKeys.of_resource)
    rotating = proxy_method(ApiKeys.rotating)
    report_created = proxy_method(ApiKeys.report_created)
    set_key = proxy_method(ApiKeys.set_key)
    set_erred = proxy_method(ApiKeys.set_erred)


class WaldurApiProxy:
    """`WaldurApi` through its actor's proxy; a typing, never instantiated."""

    orders: OrdersProxy
    resources: ResourcesProxy
    offerings: OfferingsProxy
    offering_users: OfferingUsersProxy
    usages: UsagesProxy
    agents: AgentsProxy
    projects: ProjectsProxy
    imports: ImportsProxy
    api_keys: ApiKeysProxy
    me = proxy_method(WaldurApi.me)
    version = proxy_method(WaldurApi.version)
