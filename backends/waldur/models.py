"""What this plugin reads of Waldur B's answers: the fields it uses, nothing else."""

from __future__ import annotations

from typing import Any

import msgspec


class Model(msgspec.Struct, kw_only=True, frozen=True):
    pass


class Order(Model, frozen=True):
    uuid: str
    state: str = ""
    type: str = ""
    marketplace_resource_uuid: str | None = None
    error_message: str | None = None
    provider_rejection_comment: str | None = None
    created: str | None = None


class OrderReference(Model, frozen=True):
    """The answer of `update_limits/` and `terminate/`."""

    order_uuid: str


class OptionsAnswer(Model, frozen=True):
    """The answer of `update_options/`: an order when B's offering makes one of the change."""

    order_uuid: str | None = None


class Resource(Model, frozen=True):
    uuid: str
    name: str = ""
    state: str = ""
    backend_id: str | None = None
    """What Waldur B's own provider named it (a SLURM account): the effective id here."""
    end_date: str | None = None
    end_date_updated_at: str | None = None
    project_uuid: str | None = None
    offering_uuid: str | None = None
    limits: dict[str, float] | None = None
    attributes: dict[str, Any] | None = None
    options: dict[str, Any] | None = None


class Project(Model, frozen=True):
    uuid: str
    url: str
    name: str = ""
    backend_id: str | None = None
    end_date: str | None = None
    end_date_updated_at: str | None = None


class Plan(Model, frozen=True):
    uuid: str
    url: str


class Customer(Model, frozen=True):
    uuid: str
    name: str = ""


class Offering(Model, frozen=True):
    uuid: str
    name: str = ""


class User(Model, frozen=True):
    uuid: str
    username: str = ""
    email: str | None = None


class UserReference(Model, frozen=True):
    """The answer of `remote-eduteams/`."""

    uuid: str


class BridgedUser(Model, frozen=True):
    """The answer of `identity-bridge/`: the user it created or updated."""

    uuid: str


class AllowedFields(Model, frozen=True):
    """The answer of `identity-bridge/allowed-fields/`."""

    allowed_fields: list[str]


class OfferingUser(Model, frozen=True):
    user_username: str | None = None
    username: str | None = None


class ProjectRole(Model, frozen=True):
    """One role of one user in a project (`projects/<uuid>/list_users/`)."""

    user_uuid: str
    role_name: str
    user_username: str | None = None


class ComponentUsage(Model, frozen=True):
    type: str
    usage: float = 0.0


class ComponentUserUsage(Model, frozen=True):
    component_type: str
    username: str
    usage: float = 0.0


class Identity(Model, frozen=True):
    uuid: str
    name: str = ""


class Queue(Model, frozen=True):
    """The answer of `register_queue/`: where this agent's events wait on Waldur B's broker."""

    queue_name: str
    rmq_username: str
    vhost: str
