"""Orders waiting on the backend's own system (the federation's Waldur B) finish when it does.

A plugin with non-blocking orders may let the runtime hear when its system finishes them: its
`setup_target_event_subscriptions()` registers a queue on that system's broker, and
`settled_target_orders()` lists the orders it waited for that have finished since it was last
asked. This actor listens to the queue (a second broker connection, handled like the offering's
own: client acks, endless reconnects, a reconciliation sweep after each) and asks every
`target_poll_seconds`. Either way, a finished remote order becomes an `OrderChanged` for the
executing order here whose backend id it is, so the order actor checks it at once
(`check_pending_order`) instead of at its next cycle.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pykka

from waldur_site_agent_actors.actors import messages as m
from waldur_site_agent_actors.actors.backend import BackendProxy
from waldur_site_agent_actors.actors.context import OfferingContext
from waldur_site_agent_actors.actors.events import MAX_PAYLOAD
from waldur_site_agent_actors.actors.stomp import Endpoint, Listener, Registration, StompActor
from waldur_site_agent_actors.actors.waldur.api import WaldurApiProxy
from waldur_site_agent_actors.actors.waldur.client import WaldurError, WaldurUnreachable
from waldur_site_agent_actors.actors.waldur.orders import TERMINAL_STATES
from waldur_site_agent_actors.backends.subscriptions import BrokerQueue


class TargetOrderSettled(m.Message, frozen=True):
    """An order on the backend's system reached a final state."""

    order_uuid: str
    ack: m.Acknowledgement | None = None


class PollDue(m.Message, frozen=True):
    """Time to ask the plugin which remote orders have finished."""


class OrderEvent(msgspec.Struct, kw_only=True):
    object_type: str | None = None
    order_uuid: str | None = None
    order_state: str | None = None


def decode_target(body: bytes | str, ack: m.Acknowledgement) -> tuple[m.Message | None, str]:
    """A remote order event if it says the order finished, its acknowledgement if it says the
    order is still on its way; None and why for anything else."""
    raw = body.encode() if isinstance(body, str) else body
    if len(raw) > MAX_PAYLOAD:
        return None, f"payload of {len(raw)} bytes is over the {MAX_PAYLOAD} byte limit"
    try:
        event = msgspec.json.decode(raw, type=OrderEvent)
    except msgspec.DecodeError as exc:
        return None, f"not a valid event payload: {exc}"
    if event.object_type not in (None, "order") or not event.order_uuid:
        return None, f"not an order event ({event.object_type})"
    if event.order_state not in TERMINAL_STATES:
        # Routine (every step of every order is announced): acknowledged without a word.
        return m.EventHandled(message_id=ack.message_id, subscription=ack.subscription), ""
    return TargetOrderSettled(order_uuid=event.order_uuid, ack=ack), ""


class TargetListener(Listener):
    """Tells the target events actor itself (its `parent`), which also acknowledges."""

    def decode(self, body: bytes | str, ack: m.Acknowledgement) -> tuple[m.Message | None, str]:
        return decode_target(body, ack)


class TargetEventsActor(StompActor):
    stream_kind = "target"

    def __init__(
        self,
        context: OfferingContext,
        backend: BackendProxy,
        waldur: WaldurApiProxy,
        parent: pykka.ActorRef[Any],
        capabilities: dict[str, Any],
    ) -> None:
        super().__init__(context, waldur, parent, name="target_events")
        self.backend = backend
        self.listens = bool(capabilities["target_events"])
        self.poll_seconds: float | None = capabilities["target_poll_seconds"]
        self.queue: BrokerQueue | None = None

    def setup(self) -> None:
        if self.listens:
            self.actor_ref.tell(m.StompReconnectDue())
        self._poll_later()

    def receive(self, message: Any) -> Any:
        if isinstance(message, TargetOrderSettled):
            self._settled([message.order_uuid], message)
        elif isinstance(message, PollDue):
            try:
                self._poll()
            finally:
                self._poll_later()
        else:
            return super().receive(message)
        return None

    def _poll_later(self) -> None:
        # Fixed delay: a slow answer never queues a second poll behind it.
        if self.poll_seconds:
            self.context.timer.once(self.actor_ref, PollDue(), self.poll_seconds)

    # -- the connection: the plugin says where, the STOMP actor does the rest -------------------

    def _register(self) -> Registration | None:
        try:
            subscribe = self.backend.order.setup_target_event_subscriptions
            queues = self.wait(subscribe(global_proxy=self.context.root.global_proxy))
        except Exception as exc:
            self.log.warning("cannot register the backend's event queue: %s", exc)
            self._retry_later()
            return None
        if not queues:
            self.log.warning("the backend offers no event queue to listen to")
            return None
        if len(queues) > 1:
            self.log.warning(
                "the backend offers %d event queues; listening to the first", len(queues)
            )
        self.queue = queues[0]
        return Registration(self.queue.queue, self.queue.login, self.queue.vhost)

    def _endpoint(self) -> Endpoint:
        q = self.queue
        assert q is not None, "registered before connecting"
        return Endpoint(
            host=q.host, port=q.port, path=q.path, use_tls=q.use_tls, passcode=q.passcode
        )

    def _listener(self, queue_name: str) -> Listener:
        # Events come back here first: only this actor knows which order here waits for them.
        return TargetListener(
            self.actor_ref, self.actor_ref, queue_name, self.generation, self.stream
        )

    # -- finished remote orders -----------------------------------------------------------------

    def _poll(self) -> None:
        try:
            settled = self.wait(self.backend.order.settled_target_orders())
        except Exception as exc:
            self.log.warning("cannot ask the backend for finished orders: %s", exc)
            return
        if settled:
            self._settled(settled, None)

    def _settled(self, remote_uuids: list[str], event: TargetOrderSettled | None) -> None:
        """Hand each executing order here that waits for one of these to the order actor."""
        try:
            orders = self.waldur.orders.actionable(self.context.uuid).get().items
        except (WaldurError, WaldurUnreachable) as exc:
            # The order cycle checks every waiting order anyway; nothing is lost but time.
            self.log.warning(
                "remote orders %s finished, orders here not found: %s", remote_uuids, exc
            )
            orders = []
        waiting = [o for o in orders if o.state == "executing" and o.backend_id in remote_uuids]
        ack = event.ack if event is not None else None
        for order in waiting:
            self.log.info(
                "remote order %s finished: order %s follows", order.backend_id, order.uuid
            )
            self.tell_parent(
                m.OrderChanged(order_uuid=order.uuid, order_state=order.state, ack=ack)
            )
            ack = None  # one event, acknowledged once, by the order actor
        if ack is not None:
            self.log.debug("remote orders %s: no order here waits for them", remote_uuids)
            m.acknowledge(event)
