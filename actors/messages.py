"""What actors tell each other: small immutable Structs named after what happened."""

from __future__ import annotations

import contextlib
from typing import Any

import msgspec
import pykka


class Message(msgspec.Struct, frozen=True, kw_only=True):
    pass


# -- timers ------------------------------------------------------------------------------------


class OrderTick(Message, frozen=True):
    """Time to look for orders that need the provider."""


class UsageTick(Message, frozen=True):
    """Time to report usage."""


class MembershipTick(Message, frozen=True):
    """Time to reconcile memberships, resource status and usernames."""


class StompReconnectDue(Message, frozen=True):
    """The backoff before the next broker connection attempt has passed."""


# -- events from Waldur (decoded STOMP messages) ------------------------------------------------


class Acknowledgement(msgspec.Struct, frozen=True):
    """Lets the handler of an event acknowledge it to the broker once it is handled."""

    stomp: Any  # the StompActor's ref
    message_id: str
    subscription: str


class OrderChanged(Message, frozen=True):
    order_uuid: str
    order_state: str = ""
    ack: Acknowledgement | None = None


class RoleChanged(Message, frozen=True):
    project_uuid: str
    user_uuid: str | None = None
    user_username: str | None = None
    role_name: str | None = None
    granted: bool | None = None
    resource_uuid: str | None = None
    ack: Acknowledgement | None = None


class ResourceChanged(Message, frozen=True):
    resource_uuid: str
    ack: Acknowledgement | None = None


class OfferingUserChanged(Message, frozen=True):
    offering_user_uuid: str | None = None
    user_uuid: str | None = None
    username: str | None = None
    action: str | None = None
    ack: Acknowledgement | None = None


class ProjectAccountChanged(Message, frozen=True):
    """A service or course account was created or closed in a project."""

    project_uuid: str
    account_username: str | None = None
    action: str = "create"
    ack: Acknowledgement | None = None


class PeriodicSettingsRequested(Message, frozen=True):
    """A SLURM periodic usage policy computed new settings for one resource."""

    resource_uuid: str
    policy_uuid: str
    settings: dict[str, Any]
    ack: Acknowledgement | None = None


class ImportRequested(Message, frozen=True):
    """Waldur asks which backend resources it may import (`importable_resources`)."""

    request_uuid: str
    ack: Acknowledgement | None = None


class KeyRotationRequested(Message, frozen=True):
    """A resource's team asked for a new API key (`resource_api_key_rotation`)."""

    action: str
    resource_uuid: str
    resource_backend_id: str = ""
    api_key_uuid: str = ""
    client_id: str = ""
    ack: Acknowledgement | None = None


class ResyncRequested(Message, frozen=True):
    """Waldur asked for a full resync of the offering (`offering_resources_sync`)."""

    ack: Acknowledgement | None = None


class EventHandled(Message, frozen=True):
    """Tell the STOMP actor to acknowledge a message."""

    message_id: str
    subscription: str


def acknowledge(message: Any) -> None:
    """Acknowledge the event `message` came from, if it came from one (a tick did not)."""
    ack: Acknowledgement | None = getattr(message, "ack", None)
    if ack is not None:
        # A STOMP actor that is gone took its connection along: the broker redelivers.
        with contextlib.suppress(pykka.ActorDeadError):
            ack.stomp.tell(EventHandled(message_id=ack.message_id, subscription=ack.subscription))


class BrokerReconnected(Message, frozen=True):
    """The event stream was interrupted: events may be missing, reconcile now."""


# -- supervision --------------------------------------------------------------------------------


class ChildDied(Message, frozen=True):
    """An actor under an offering died of an unexpected exception (also one in its start)."""

    name: str
    error: str


class SweepRequested(Message, frozen=True):
    """Sweep now rather than at the next tick: events may have been missed. With
    `recreate_missing` (Waldur asked for a forced resync), the membership sweep first creates
    again the resources the backend lost."""

    recreate_missing: bool = False


class OfferingDied(Message, frozen=True):
    """An offering gave up: the supervisor stops it and waits for `OfferingStopped`."""

    offering_uuid: str
    error: str
    generation: int


class OfferingStopped(Message, frozen=True):
    """Every actor of this generation, its backend actor last, has stopped."""

    offering_uuid: str
    generation: int
    error: str | None = None


class StopOverdue(Message, frozen=True):
    """A generation told to stop this long ago has not said it stopped."""

    offering_uuid: str
    generation: int


class RestartOffering(Message, frozen=True):
    """The backoff after a generation stopped is over."""

    offering_uuid: str
    generation: int


class CycleFinished(Message, frozen=True):
    """A mode finished one cycle; the offering keeps the latest per mode for `status`."""

    mode: str
    finished_at: float
    error: str | None = None
    summary: str = ""
