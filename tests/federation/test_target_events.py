"""What the target events actor makes of Waldur B's messages."""

import json

import pytest

from waldur_site_agent_actors.actors import messages as m
from waldur_site_agent_actors.actors.target_events import TargetOrderSettled, decode_target

ACK = m.Acknowledgement(stomp=None, message_id="7", subscription="q")


def event(**payload):
    return json.dumps({"object_type": "order", "order_uuid": "b" * 32, **payload})


@pytest.mark.parametrize("state", ["done", "erred", "canceled", "rejected"])
def test_a_finished_remote_order_is_news(state):
    message, _ = decode_target(event(order_state=state), ACK)
    assert message == TargetOrderSettled(order_uuid="b" * 32, ack=ACK)


@pytest.mark.parametrize("state", ["pending-provider", "executing", None])
def test_an_order_on_its_way_is_only_acknowledged(state):
    message, _ = decode_target(event(order_state=state), ACK)
    assert message == m.EventHandled(message_id="7", subscription="q")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("{not json", "not a valid event payload"),
        (json.dumps({"object_type": "resource", "resource_uuid": "r"}), "not an order event"),
        (json.dumps({"object_type": "order", "order_state": "done"}), "not an order event"),
        ("x" * (300 * 1024), "byte limit"),
    ],
)
def test_anything_else_is_dropped_with_a_reason(body, reason):
    message, why = decode_target(body, ACK)
    assert message is None
    assert reason in why
