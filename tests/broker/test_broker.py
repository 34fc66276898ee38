"""`simulators.waldur.broker.Broker` against a real RabbitMQ, seen by a real stomp.py client.

The client is set up exactly as the site agent sets up its own: STOMP 1.2 over WebSocket, vhost =
the Waldur user's uuid hex, login = the subscription's uuid hex, passcode = the API token,
heartbeats (10000, 10000), SUBSCRIBE to `/amq/queue/<queue>`.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from dataclasses import dataclass

import pytest
import stomp
from stomp.adapter.ws import WSStompConnection

from waldur_site_agent_actors.simulators.waldur.broker import (
    QUEUE_ARGUMENTS,
    Broker,
    BrokerError,
    BrokerUnavailable,
    QueueNotFound,
)

CONNECT_TIMEOUT = 5.0
RECEIVE_TIMEOUT = 10.0


class Recorder(stomp.ConnectionListener):
    """Hands every frame to the test thread and does nothing else on the receiver thread."""

    def __init__(self) -> None:
        self.connected = threading.Event()
        self.answered = threading.Event()  # CONNECTED or ERROR: no need to wait any longer
        self.disconnected = threading.Event()
        self.messages: queue.Queue[tuple[dict[str, str], str]] = queue.Queue()
        self.errors: list[dict[str, str]] = []

    def on_connected(self, frame) -> None:
        self.connected.set()
        self.answered.set()

    def on_disconnected(self) -> None:
        self.disconnected.set()

    def on_error(self, frame) -> None:
        self.errors.append({**frame.headers, "body": frame.body})
        self.answered.set()

    def on_message(self, frame) -> None:
        self.messages.put((dict(frame.headers), frame.body))

    def next(self, timeout: float = RECEIVE_TIMEOUT) -> tuple[dict[str, str], str]:
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no MESSAGE within {timeout} s") from None


@dataclass
class Subscription:
    vhost: str
    username: str
    password: str
    queue: str


@pytest.fixture
def made(rabbitmq):
    """Subscriptions a test made; their vhosts (with queues) and users are deleted after it."""
    subs: list[Subscription] = []
    yield subs
    for sub in subs:
        rabbitmq.broker.delete_vhost(sub.vhost)
        rabbitmq.broker.delete_user(sub.username)


def new_subscription(
    broker: Broker, made: list[Subscription], object_type: str = "order"
) -> Subscription:
    """What Mastermind sets up for `register_event_subscription` + `create_queue`."""
    user_uuid, sub_uuid, offering_uuid = (uuid.uuid4().hex for _ in range(3))
    token = uuid.uuid4().hex + uuid.uuid4().hex[:8]
    name = f"subscription_{sub_uuid}_offering_{offering_uuid}_{object_type}"
    broker.ensure_subscription(user_uuid, sub_uuid, token)
    sub = Subscription(user_uuid, sub_uuid, token, name)
    made.append(sub)
    assert broker.ensure_queue(user_uuid, name) is True
    return sub


def connect(rabbitmq, sub: Subscription, password: str | None = None):
    """A Web-STOMP connection like the agent's; (connection, recorder), connected or not."""
    conn = WSStompConnection(
        [(rabbitmq.host, rabbitmq.ws_port)],
        ws_path=rabbitmq.ws_path,
        vhost=sub.vhost,
        heartbeats=(10000, 10000),
        reconnect_attempts_max=1,
    )
    recorder = Recorder()
    conn.set_listener("recorder", recorder)
    # wait=False: a refused login over Web-STOMP may never deliver its ERROR frame, so
    # "no CONNECTED within N s" is the failure signal (stomp.py's own wait could hang).
    conn.connect(sub.username, sub.password if password is None else password, wait=False)
    recorder.answered.wait(CONNECT_TIMEOUT)
    return conn, recorder


def subscribe(conn, sub: Subscription) -> None:
    conn.subscribe(f"/amq/queue/{sub.queue}", id=sub.queue, ack="client-individual")


def disconnect(conn) -> None:
    try:
        if conn.is_connected():
            conn.disconnect()
    finally:
        conn.transport.stop()


def receive_json(conn, recorder: Recorder) -> tuple[dict[str, str], dict]:
    headers, body = recorder.next()
    conn.ack(headers["ack"])
    return headers, json.loads(body)


@pytest.mark.rabbitmq
def test_queue_declared_with_waldur_arguments(rabbitmq, made):
    broker = rabbitmq.broker
    sub = new_subscription(broker, made)
    info = broker.queue_info(sub.vhost, sub.queue)
    assert info is not None
    assert info["durable"] is True and info["auto_delete"] is False
    assert info["arguments"] == QUEUE_ARGUMENTS
    # Declaring again is fine and says it already existed; so is ensuring the subscription.
    assert broker.ensure_queue(sub.vhost, sub.queue) is False
    broker.ensure_subscription(sub.vhost, sub.username, sub.password)
    assert broker.queue_exists(sub.vhost, sub.queue)
    assert not broker.queue_exists(sub.vhost, "no-such-queue")


@pytest.mark.rabbitmq
def test_message_published_through_broker_reaches_web_stomp_client(rabbitmq, made):
    broker = rabbitmq.broker
    sub = new_subscription(broker, made)
    conn, recorder = connect(rabbitmq, sub)
    try:
        assert recorder.connected.is_set(), f"no CONNECTED; errors: {recorder.errors}"
        subscribe(conn, sub)
        payload = {"order_uuid": uuid.uuid4().hex, "order_state": "pending-provider"}
        message_id = broker.publish(sub.vhost, sub.queue, payload)
        headers, body = receive_json(conn, recorder)
        assert body == payload
        # The frame a consumer sees for Mastermind's `SEND /amq/queue/<q>` (checked by hand
        # against a real STOMP publisher): the destination is rewritten to /queue/<q>.
        assert headers["destination"] == f"/queue/{sub.queue}"
        assert headers["subscription"] == sub.queue
        assert headers["content-type"] == "application/json"
        assert headers["persistent"] == "true"
        assert headers["x-message-id"] == message_id
    finally:
        disconnect(conn)


@pytest.mark.rabbitmq
def test_both_publish_paths_give_the_consumer_the_same_frame(rabbitmq, made):
    broker = rabbitmq.broker
    sub = new_subscription(broker, made)
    payload = {"resource_uuid": uuid.uuid4().hex}
    broker.publish(sub.vhost, sub.queue, payload, via="stomp")
    broker.publish(sub.vhost, sub.queue, payload, via="management")
    conn, recorder = connect(rabbitmq, sub)
    try:
        subscribe(conn, sub)
        frames = [receive_json(conn, recorder) for _ in range(2)]
    finally:
        disconnect(conn)
    varying = {"message-id", "ack", "x-message-id"}
    stomp_headers, management_headers = (
        {k: v for k, v in headers.items() if k not in varying} for headers, _ in frames
    )
    assert stomp_headers == management_headers
    # Mastermind's SEND headers, as the agent receives them.
    assert stomp_headers["durable"] == "true" and stomp_headers["auto-delete"] == "false"
    assert [body for _, body in frames] == [payload, payload]


@pytest.mark.rabbitmq
def test_restart_keeps_durable_queue_and_persistent_messages(rabbitmq, made):
    broker = rabbitmq.broker
    sub = new_subscription(broker, made, "user_role")
    before = {"project_uuid": uuid.uuid4().hex, "project_name": "before restart"}
    broker.publish(sub.vhost, sub.queue, before)

    open_conn, open_recorder = connect(rabbitmq, sub)
    assert open_recorder.connected.is_set()
    try:
        rabbitmq.restart()
        # A connection that was open sees the restart (stomp.py never reconnects by itself).
        assert open_recorder.disconnected.wait(10)
    finally:
        disconnect(open_conn)

    assert broker.queue_exists(sub.vhost, sub.queue)
    info = broker.queue_info(sub.vhost, sub.queue)
    assert info is not None and info["arguments"] == QUEUE_ARGUMENTS
    after = {"project_uuid": uuid.uuid4().hex, "project_name": "after restart"}
    broker.publish(sub.vhost, sub.queue, after)

    conn, recorder = connect(rabbitmq, sub)
    try:
        assert recorder.connected.is_set(), f"no CONNECTED after restart: {recorder.errors}"
        subscribe(conn, sub)
        assert receive_json(conn, recorder)[1] == before
        assert receive_json(conn, recorder)[1] == after
    finally:
        disconnect(conn)


@pytest.mark.rabbitmq
def test_outage_refuses_everything_until_it_ends(rabbitmq, made):
    broker = rabbitmq.broker
    sub = new_subscription(broker, made)
    conn, recorder = connect(rabbitmq, sub)
    assert recorder.connected.is_set()
    try:
        with rabbitmq.outage():
            assert recorder.disconnected.wait(10)
            assert broker.ping() is False
            with pytest.raises(BrokerUnavailable):
                broker.publish(sub.vhost, sub.queue, {"during": "outage"})
            with pytest.raises(stomp.exception.ConnectFailedException):
                connect(rabbitmq, sub)
    finally:
        disconnect(conn)
    broker.publish(sub.vhost, sub.queue, {"after": "outage"})
    conn, recorder = connect(rabbitmq, sub)
    try:
        subscribe(conn, sub)
        assert receive_json(conn, recorder)[1] == {"after": "outage"}
    finally:
        disconnect(conn)


@pytest.mark.rabbitmq
def test_wrong_password_is_refused(rabbitmq, made):
    sub = new_subscription(rabbitmq.broker, made)
    conn, recorder = connect(rabbitmq, sub, password="not-the-token")
    try:
        assert not recorder.connected.is_set()
        if recorder.errors:  # the ERROR frame may or may not arrive before the socket closes
            assert "Access refused" in recorder.errors[0]["body"]
    finally:
        disconnect(conn)


@pytest.mark.rabbitmq
def test_registering_again_refreshes_the_password(rabbitmq, made):
    # register_queue is idempotent and sets the broker password to the caller's current token.
    sub = new_subscription(rabbitmq.broker, made)
    new_token = uuid.uuid4().hex
    rabbitmq.broker.ensure_subscription(sub.vhost, sub.username, new_token)
    old, old_recorder = connect(rabbitmq, sub)
    new, new_recorder = connect(rabbitmq, sub, password=new_token)
    try:
        assert not old_recorder.connected.is_set()
        assert new_recorder.connected.is_set()
    finally:
        disconnect(old)
        disconnect(new)


@pytest.mark.rabbitmq
def test_publishes_from_many_threads_all_arrive(rabbitmq, made):
    broker = rabbitmq.broker
    sub = new_subscription(broker, made)
    threads, each = 8, 25

    def publish(worker: int) -> None:
        for i in range(each):
            broker.publish(sub.vhost, sub.queue, {"worker": worker, "i": i})

    pool = [threading.Thread(target=publish, args=(w,)) for w in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    conn, recorder = connect(rabbitmq, sub)
    try:
        subscribe(conn, sub)
        got = [receive_json(conn, recorder)[1] for _ in range(threads * each)]
    finally:
        disconnect(conn)
    assert sorted((m["worker"], m["i"]) for m in got) == [
        (w, i) for w in range(threads) for i in range(each)
    ]
    # Per worker, order is kept (one queue, FIFO).
    assert [m["i"] for m in got if m["worker"] == 0] == list(range(each))


@pytest.mark.rabbitmq
def test_user_only_reaches_its_own_vhost(rabbitmq, made):
    broker = rabbitmq.broker
    mine, other = new_subscription(broker, made), new_subscription(broker, made)
    wrong_vhost = Subscription(other.vhost, mine.username, mine.password, other.queue)
    conn, recorder = connect(rabbitmq, wrong_vhost)
    try:
        assert not recorder.connected.is_set()
    finally:
        disconnect(conn)


@pytest.mark.rabbitmq
def test_close_connections_and_delete_user(rabbitmq, made):
    broker = rabbitmq.broker
    sub = new_subscription(broker, made)
    conn, recorder = connect(rabbitmq, sub)
    try:
        assert recorder.connected.is_set()
        # The management API lists connections from statistics: give it a moment.
        deadline = time.monotonic() + 10
        while not broker.connections(user=sub.username) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert broker.close_connections(user=sub.username) == 1
        assert recorder.disconnected.wait(10)
    finally:
        disconnect(conn)

    assert broker.delete_user(sub.username) is True
    assert broker.delete_user(sub.username) is False
    conn, recorder = connect(rabbitmq, sub)
    try:
        assert not recorder.connected.is_set()
    finally:
        disconnect(conn)


@pytest.mark.rabbitmq
def test_publish_to_missing_queue_and_conflicting_declaration(rabbitmq, made):
    broker = rabbitmq.broker
    sub = new_subscription(broker, made)
    with pytest.raises(QueueNotFound, match=r"no queue|not routed"):
        broker.publish(sub.vhost, "consumer_" + uuid.uuid4().hex, {"x": 1})
    plain = "plain_" + uuid.uuid4().hex
    broker._call("PUT", f"queues/{sub.vhost}/{plain}", {"durable": True, "arguments": {}})
    with pytest.raises(BrokerError) as caught:
        broker.ensure_queue(sub.vhost, plain)
    assert caught.value.status == 400
    assert broker.delete_queue(sub.vhost, plain) is True
    assert broker.delete_vhost(sub.vhost) is True
    assert not broker.vhost_exists(sub.vhost)


# Without a broker.


def test_from_env_names_what_is_missing():
    with pytest.raises(BrokerError, match="WALDUR_TEST_RABBITMQ_ADMIN_PASSWORD"):
        Broker.from_env(
            {
                "WALDUR_TEST_RABBITMQ_MGMT_URL": "http://127.0.0.1:1/api/",
                "WALDUR_TEST_RABBITMQ_ADMIN_USER": "admin",
            }
        )


def test_from_env_splits_the_web_stomp_url():
    broker = Broker.from_env(
        {
            "WALDUR_TEST_RABBITMQ_MGMT_URL": "http://127.0.0.1:15682/api/",
            "WALDUR_TEST_RABBITMQ_ADMIN_USER": "admin",
            "WALDUR_TEST_RABBITMQ_ADMIN_PASSWORD": "secret",
            "WALDUR_TEST_RABBITMQ_WS_URL": "ws://127.0.0.1:15684/ws",
            "WALDUR_TEST_RABBITMQ_STOMP_PORT": "61623",
        }
    )
    assert (broker.ws_host, broker.ws_port, broker.ws_path) == ("127.0.0.1", 15684, "/ws")
    assert broker.stomp_port == 61623
    assert "secret" not in repr(broker)


def test_unreachable_broker_is_typed_and_never_shows_a_password():
    broker = Broker("http://127.0.0.1:9/api/", "admin", "admin-secret", timeout=2)
    with pytest.raises(BrokerUnavailable) as caught:
        broker.ensure_user("someone", "user-secret")
    text = str(caught.value)
    assert "unreachable" in text
    assert "admin-secret" not in text and "user-secret" not in text
    assert broker.ping() is False
