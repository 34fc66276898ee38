"""`BaseClient`: the low-level side of a plugin, talking to the backend system itself."""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from typing import Any

from waldur_site_agent_actors.backends import commands
from waldur_site_agent_actors.backends.structures import Association, ClientResource


class BaseClient(abc.ABC):
    """Talks to one backend system (CLI or API). Limits here are in backend units."""

    command_timeout: float = commands.DEFAULT_TIMEOUT
    mask: Callable[[str], str] = staticmethod(lambda text: text)

    def execute_command(self, command: Sequence[str], silent: bool = False) -> str:
        """Run a CLI command (argv list, never a shell) with this client's timeout."""
        return commands.execute_command(
            command, timeout=self.command_timeout, mask=self.mask, silent=silent
        )

    @abc.abstractmethod
    def list_resources(self) -> list[ClientResource]: ...

    @abc.abstractmethod
    def get_resource(self, resource_id: str) -> ClientResource | None:
        """None (never an exception) when the resource does not exist."""

    @abc.abstractmethod
    def create_resource(
        self, name: str, description: str, organization: str, parent_name: str | None = None
    ) -> str: ...

    @abc.abstractmethod
    def delete_resource(self, name: str) -> str: ...

    @abc.abstractmethod
    def set_resource_limits(self, resource_id: str, limits_dict: dict[str, int]) -> str | None: ...

    @abc.abstractmethod
    def get_resource_limits(self, resource_id: str) -> dict[str, int]: ...

    @abc.abstractmethod
    def get_resource_user_limits(self, resource_id: str) -> dict[str, dict[str, int]]: ...

    @abc.abstractmethod
    def set_resource_user_limits(
        self, resource_id: str, username: str, limits_dict: dict[str, int]
    ) -> str: ...

    @abc.abstractmethod
    def get_association(self, user: str, resource_id: str) -> Association | None:
        """None (never an exception) when the user is not linked to the resource."""

    @abc.abstractmethod
    def create_association(
        self, username: str, resource_id: str, default_account: str | None = None
    ) -> str: ...

    @abc.abstractmethod
    def delete_association(self, username: str, resource_id: str) -> str: ...

    @abc.abstractmethod
    def get_usage_report(self, resource_ids: list[str]) -> list[Any]: ...

    @abc.abstractmethod
    def list_resource_users(self, resource_id: str) -> list[str]: ...
