"""The plugin API: everything a backend plugin imports, from this one module.

    from waldur_site_agent_actors.backends import BaseBackend, BaseClient, BackendError

The names below are the stable surface (docs/plugins.md); the submodules they come from may be
reorganised. Upstream's plugins, written against `waldur_site_agent.backend`, need none of this:
they run as they are behind the agent's adapter (docs/plugins.md, "Upstream plugins").
"""

from waldur_site_agent_actors.backends import backend_ids, units
from waldur_site_agent_actors.backends.base import STATE_DIR_VARIABLE, BaseBackend, UserContext
from waldur_site_agent_actors.backends.client import BaseClient
from waldur_site_agent_actors.backends.commands import execute_command, validate_name
from waldur_site_agent_actors.backends.exceptions import (
    BackendError,
    BackendNotReadyError,
    CommandError,
    CommandNotFound,
    CommandTimeout,
    ConfigurationError,
    DuplicateResourceError,
    InvalidNameError,
    OfferingUserAccountLinkingRequiredError,
    OfferingUserAdditionalValidationRequiredError,
)
from waldur_site_agent_actors.backends.structures import (
    ACCEPT,
    PENDING,
    TOTAL_ACCOUNT_USAGE,
    Association,
    BackendResourceInfo,
    ClientResource,
    ComponentAmounts,
    Endpoint,
    OrderDecision,
    ResourceUsage,
    UsageReport,
    WaldurResource,
    WaldurUpdates,
)
from waldur_site_agent_actors.backends.subscriptions import BrokerQueue
from waldur_site_agent_actors.backends.usernames import OfferingUserInfo, UsernameManagementBackend

__all__ = [
    "ACCEPT",
    "PENDING",
    "STATE_DIR_VARIABLE",
    "TOTAL_ACCOUNT_USAGE",
    "Association",
    "BackendError",
    "BackendNotReadyError",
    "BackendResourceInfo",
    "BaseBackend",
    "BaseClient",
    "BrokerQueue",
    "ClientResource",
    "CommandError",
    "CommandNotFound",
    "CommandTimeout",
    "ComponentAmounts",
    "ConfigurationError",
    "DuplicateResourceError",
    "Endpoint",
    "InvalidNameError",
    "OfferingUserAccountLinkingRequiredError",
    "OfferingUserAdditionalValidationRequiredError",
    "OfferingUserInfo",
    "OrderDecision",
    "ResourceUsage",
    "UsageReport",
    "UserContext",
    "UsernameManagementBackend",
    "WaldurResource",
    "WaldurUpdates",
    "backend_ids",
    "execute_command",
    "units",
    "validate_name",
]
