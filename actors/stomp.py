"""The STOMP actor: one broker connection, events routed to the offering's mailbox.

stomp.py calls its listener on a single receiver thread, so the listener only decodes and tells;
everything else happens in this actor. Messages are acknowledged (client-individual) only after
the child that handled them says so: a crash mid-way leaves the message on the queue. Reconnects
run forever with capped backoff, re-registering the queue each time (the broker may have lost
it), and every reconnect triggers a reconciliation sweep for what may have been missed.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import pykka
import stomp

from waldur_site_agent_actors.actors import messages as m
from waldur_site_agent_actors.actors import metrics
from waldur_site_agent_actors.actors.context import OfferingContext
from waldur_site_agent_actors.actors.events import (
    API_KEY_TYPES,
    IMPORT_TYPES,
    MEMBERSHIP_TYPES,
    ORDER_TYPES,
    PERIODIC_TYPES,
    decode,
)
from waldur_site_agent_actors.actors.offering_child import OfferingChild
from waldur_site_agent_actors.actors.waldur.api import WaldurApiProxy
from waldur_site_agent_actors.actors.waldur.client import WaldurError, WaldurUnreachable
from waldur_site_agent_actors.config import plugins
from waldur_site_agent_actors.config.model import Offering

log = logging.getLogger("actors.stomp")

CONNECT_TIMEOUT = 10.0
BACKOFF_INITIAL, BACKOFF_MAX = 1.0, 120.0
HEARTBEATS = (10000, 10000)


@dataclass(frozen=True)
class Registration:
    queue_name: str
    login: str
    vhost: str


@dataclass(frozen=True)
class Endpoint:
    """Where the broker listens (Web-STOMP) and the passcode to log in with."""

    host: str
    port: int
    path: str
    use_tls: bool
    passcode: str = field(repr=False)


class UnifiedQueueUnsupported(m.Message, frozen=True):
    """This Waldur has no `register_queue`: the offering falls back to per-type subscriptions."""


class Connected(m.Message, frozen=True):
    generation: int


class Disconnected(m.Message, frozen=True):
    generation: int


def object_types(context: OfferingContext) -> list[str]:
    types: list[str] = []
    if context.runs("order_process") and context.offering.backend_for("order"):
        types += ORDER_TYPES
        if manages_api_keys(context.offering, context.offering.backend_for("order")):
            types += API_KEY_TYPES
        if context.offering.periodic_limits_enabled:
            types += PERIODIC_TYPES
        if context.offering.resource_import_enabled:
            types += IMPORT_TYPES
    if (
        context.runs("membership_sync")
        and context.offering.backend_for("membership")
        and context.offering.membership_on_stomp
    ):
        types += MEMBERSHIP_TYPES
    return types


def manages_api_keys(offering: Offering, plugin: str) -> bool:
    """The plugin's class says so (read off the class: the instance lives in the backend
    actor); rotations of any other offering's keys are not asked for."""
    point = plugins.find(plugins.BACKENDS, plugin, offering.pinned_distribution(plugin))
    cls = plugins.load_point(plugin, point) if point is not None else None
    return bool(getattr(cls, "supports_resource_api_keys", False))


class Listener(stomp.ConnectionListener):
    """Runs on stomp.py's receiver thread: decode, tell, nothing else."""

    def __init__(
        self,
        actor: pykka.ActorRef[Any],
        parent: pykka.ActorRef[Any],
        queue: str,
        generation: int,
        stream: tuple[str, str] = ("", ""),
    ) -> None:
        self.actor, self.parent, self.queue, self.generation = actor, parent, queue, generation
        self.stream = stream  # (offering, stream) naming it in the metrics
        self.connected = threading.Event()

    def on_connected(self, frame: Any) -> None:
        self.connected.set()

    def on_disconnected(self) -> None:
        with contextlib.suppress(pykka.ActorDeadError):
            self.actor.tell(Disconnected(generation=self.generation))

    def on_message(self, frame: Any) -> None:
        metrics.event_received(*self.stream)
        ack_id = frame.headers.get("ack") or frame.headers.get("message-id", "")
        subscription = frame.headers.get("subscription", "")
        ack = m.Acknowledgement(stomp=self.actor, message_id=ack_id, subscription=subscription)
        message, reason = self.decode(frame.body, ack)
        try:
            if message is None:
                log.warning("event dropped from %s: %s", self.queue, reason)
                self.actor.tell(m.EventHandled(message_id=ack_id, subscription=subscription))
            else:
                self.parent.tell(message)
        except pykka.ActorDeadError:
            pass  # not acknowledged: the broker redelivers it to the next connection

    def decode(self, body: bytes | str, ack: m.Acknowledgement) -> tuple[m.Message | None, str]:
        return decode(body, self.queue, ack)


def accept_any_bytes(connection: Any) -> None:
    """Let a message that is not UTF-8 reach the listener, which drops it with its reason.

    RabbitMQ sends messages in text WebSocket frames; websocket-client closes the connection on
    one that is not UTF-8, so such a message would be redelivered, and drop the connection,
    forever. stomp.py offers no way to pass websocket-client's `skip_utf8_validation`: it is
    set on the socket it made, before SUBSCRIBE, so before any message can arrive.
    """
    socket = getattr(connection.transport, "socket", None)
    for part in ("frame_buffer", "cont_frame"):
        if hasattr(getattr(socket, part, None), "skip_utf8_validation"):
            getattr(socket, part).skip_utf8_validation = True


class StompActor(OfferingChild):
    stream_kind = "waldur"  # the metrics' `stream` label: the Waldur this offering serves

    def __init__(
        self,
        context: OfferingContext,
        waldur: WaldurApiProxy,
        parent: pykka.ActorRef[Any],
        object_type: str | None = None,
        name: str = "event_process",
        *,
        presence: Any = None,
    ) -> None:
        super().__init__(context, parent, f"{name}:{object_type}" if object_type else name)
        self.waldur = waldur
        self.presence = presence  # the PresenceActor's proxy: the agent identity (Waldur's queues)
        self.legacy_type = object_type  # None: the unified queue for all types
        self.connection: Any = None
        self.generation = 0
        self.failures = 0
        self.connected_at = 0.0
        self.reconcile_after_connect = False
        self.stream = (self.offering.name, self.stream_kind)

    def setup(self) -> None:
        metrics.event_stream_expected(*self.stream)
        self.actor_ref.tell(m.StompReconnectDue())

    def teardown(self) -> None:
        self._close()

    def receive(self, message: Any) -> Any:
        if isinstance(message, m.StompReconnectDue):
            self._connect()
        elif isinstance(message, m.EventHandled):
            self._ack(message)
        elif isinstance(message, Disconnected):
            if message.generation == self.generation:
                self.log.warning("broker connection lost; reconnecting")
                if time.monotonic() - self.connected_at > BACKOFF_MAX:
                    self.failures = 0  # it had lived a while: a fresh outage, retry soon
                self._retry_later()
        else:
            return super().receive(message)
        return None

    def _register(self) -> Registration | None:
        waldur, offering = self.waldur, self.context.offering
        identity = self.presence.identity().get()
        if self.legacy_type is None:
            unified = waldur.agents.register_queue(identity.uuid, object_types(self.context)).get()
            if unified is None:
                self.tell_parent(UnifiedQueueUnsupported())
                return None
            return Registration(unified.queue_name, unified.rmq_username, unified.vhost)
        subscription = waldur.agents.register_subscription(identity.uuid, self.legacy_type).get()
        queue = waldur.agents.create_queue(
            subscription.uuid, offering.waldur_offering_uuid, self.legacy_type
        ).get()
        return Registration(queue.queue_name, subscription.uuid.replace("-", ""), queue.vhost)

    def _connect(self) -> None:
        self._close()
        try:
            registration = self._register()
        except (WaldurError, WaldurUnreachable) as exc:
            self.log.warning("cannot register the event queue: %s", exc)
            self._retry_later()
            return
        if registration is None:
            return
        endpoint = self._endpoint()
        host, port = endpoint.host, endpoint.port
        connection = stomp.WSStompConnection(
            host_and_ports=[(host, port)],
            ws_path=endpoint.path,
            vhost=registration.vhost,
            heartbeats=HEARTBEATS,
            reconnect_attempts_max=1,
        )
        if endpoint.use_tls:
            connection.set_ssl(for_hosts=[(host, port)])
        listener = self._listener(registration.queue_name)
        connection.set_listener("waldur", listener)
        try:
            connection.connect(registration.login, endpoint.passcode, wait=False)
            if not listener.connected.wait(CONNECT_TIMEOUT):
                raise ConnectionError(
                    f"no CONNECTED from {host}:{port} within "
                    f"{CONNECT_TIMEOUT:g} s (wrong login or vhost?)"
                )
            accept_any_bytes(connection)
            connection.subscribe(
                f"/amq/queue/{registration.queue_name}",
                id=registration.queue_name,
                ack="client-individual",
                headers={"prefetch-count": "50"},
            )
        except Exception as exc:
            self.log.warning("broker %s:%s: %s", host, port, exc)
            self._close(connection)
            self._retry_later()
            return
        self.connection = connection
        self.connected_at = time.monotonic()
        metrics.event_stream_changed(*self.stream, up=True)
        self.log.info("listening on %s (vhost %s)", registration.queue_name, registration.vhost)
        if self.reconcile_after_connect:
            # Events may have been published while nobody listened: sweep for them now.
            self.reconcile_after_connect = False
            metrics.event_stream_reconnected(*self.stream)
            self.tell_parent(m.BrokerReconnected())

    def _endpoint(self) -> Endpoint:
        offering = self.context.offering
        api_host = urlparse(offering.waldur_api_url).hostname
        return Endpoint(
            host=offering.stomp_ws_host or api_host or "localhost",
            port=offering.stomp_ws_port or (443 if offering.websocket_use_tls else 80),
            path=offering.stomp_ws_path or "/rmqws-stomp",
            use_tls=offering.websocket_use_tls,
            passcode=offering.waldur_api_token,
        )

    def _listener(self, queue_name: str) -> Listener:
        return Listener(self.actor_ref, self.parent, queue_name, self.generation, self.stream)

    def _retry_later(self) -> None:
        self._close()
        self.failures += 1
        delay = min(BACKOFF_MAX, BACKOFF_INITIAL * 2 ** (self.failures - 1))
        delay *= 1 + random.random() / 4  # noqa: S311 - jitter, not crypto
        self.context.timer.once(self.actor_ref, m.StompReconnectDue(), delay)
        self.reconcile_after_connect = True

    def _ack(self, message: m.EventHandled) -> None:
        if self.connection is None or not message.message_id:
            return  # the connection it came on is gone: the broker redelivers it
        try:
            self.connection.ack(message.message_id)
        except Exception as exc:
            self.log.warning("cannot acknowledge %s: %s", message.message_id, exc)
        else:
            metrics.event_acknowledged(*self.stream)

    def _close(self, connection: Any = None) -> None:
        target = connection or self.connection
        if self.connection is not None and target is self.connection:
            metrics.event_stream_changed(*self.stream, up=False)
        self.connection = None
        self.generation += 1  # late callbacks of a closed connection are ignored
        if target is None:
            return
        # A dying connection may refuse to say goodbye; it is gone either way.
        with contextlib.suppress(Exception):
            target.disconnect()
