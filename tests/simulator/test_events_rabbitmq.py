"""End to end over a real RabbitMQ: the simulator registers subscriptions and queues on the broker
the way Mastermind does, and a Web-STOMP client logged in like the agent receives the payloads."""

import json
import queue
import threading

import pytest
import stomp
from stomp.adapter.ws import WSStompConnection

from tests.simulator.conftest import Api
from waldur_site_agent_actors.simulators.waldur import WaldurSimulator

pytestmark = pytest.mark.rabbitmq
TIMEOUT = 10.0


class Inbox(stomp.ConnectionListener):
    def __init__(self) -> None:
        self.connected = threading.Event()
        self.messages: queue.Queue = queue.Queue()

    def on_connected(self, frame) -> None:
        self.connected.set()

    def on_message(self, frame) -> None:
        self.messages.put((frame.headers, frame.body))

    def next(self):
        try:
            return self.messages.get(timeout=TIMEOUT)
        except queue.Empty:
            raise AssertionError(f"no message within {TIMEOUT} s") from None


def stomp_client(rabbitmq, vhost, login, passcode, destination):
    conn = WSStompConnection(
        [(rabbitmq.host, rabbitmq.ws_port)],
        ws_path=rabbitmq.ws_path,
        vhost=vhost,
        heartbeats=(10000, 10000),
        reconnect_attempts_max=1,
    )
    inbox = Inbox()
    conn.set_listener("inbox", inbox)
    conn.connect(login, passcode, wait=False)
    assert inbox.connected.wait(TIMEOUT), "STOMP login refused"
    conn.subscribe(destination, id=destination, ack="auto")
    return conn, inbox


def test_order_events_reach_the_agent_over_web_stomp(rabbitmq):
    broker = rabbitmq.broker
    with WaldurSimulator(broker=broker) as sim:
        info = sim.summary()
        provider, staff = Api(sim, sim.provider_token), Api(sim, sim.staff_token)
        offering = info["offerings"][0]["uuid"]
        identity = provider.post(
            "marketplace-site-agent-identities/",
            {"offering": offering, "name": f"agent-{offering}"},
        ).json()
        sub = provider.post(
            f"marketplace-site-agent-identities/{identity['uuid']}/register_event_subscription/",
            {"observable_object_type": "order"},
        ).json()
        legacy = provider.post(
            f"event-subscriptions/{sub['uuid']}/create_queue/",
            {"offering_uuid": offering, "object_type": "order"},
        ).json()
        unified = provider.post(
            f"marketplace-site-agent-identities/{identity['uuid']}/register_queue/",
            {"object_types": ["order"]},
        ).json()
        conns = []
        try:
            conn, inbox = stomp_client(
                rabbitmq, sub["user_uuid"], sub["uuid"], sim.provider_token,
                f"/amq/queue/{legacy['queue_name']}",
            )  # fmt: skip
            conns.append(conn)
            conn2, inbox2 = stomp_client(
                rabbitmq, unified["vhost"], unified["rmq_username"], sim.provider_token,
                f"/amq/queue/{unified['queue_name']}",
            )  # fmt: skip
            conns.append(conn2)
            order = staff.post(
                "marketplace-orders/",
                {"offering": info["offerings"][0]["url"], "project": info["projects"][0]["url"]},
            ).json()
            headers, body = inbox.next()
            assert json.loads(body) == {
                "order_uuid": order["uuid"],
                "order_state": "pending-provider",
            }
            assert headers["destination"].endswith(legacy["queue_name"])
            _, body2 = inbox2.next()
            enveloped = json.loads(body2)
            assert enveloped["object_type"] == "order" and enveloped["offering_uuid"] == offering
            provider.post(f"marketplace-orders/{order['uuid']}/approve_by_provider/")
            assert json.loads(inbox.next()[1])["order_state"] == "executing"
        finally:
            for c in conns:
                if c.is_connected():
                    c.disconnect()
            rabbitmq.forget(sim)
            provider.send("DELETE", f"event-subscriptions/{sub['uuid']}/")
