import json

from waldur_site_agent_actors.actors import messages as m
from waldur_site_agent_actors.actors.events import MAX_PAYLOAD, decode, object_type_of_queue


def test_order_event_becomes_order_changed():
    body = json.dumps(
        {"order_uuid": "ab" * 16, "order_state": "pending-provider", "object_type": "order"}
    )
    message, reason = decode(body, "consumer_x", None)
    assert message == m.OrderChanged(order_uuid="ab" * 16, order_state="pending-provider")
    assert reason == ""


def test_finished_orders_are_dropped_with_a_reason():
    body = json.dumps({"order_uuid": "ab" * 16, "order_state": "done", "object_type": "order"})
    message, reason = decode(body, "q", None)
    assert message is None and "done" in reason


def test_legacy_queue_name_gives_the_type():
    queue = "subscription_" + "1" * 32 + "_offering_" + "2" * 32 + "_service_account"
    assert object_type_of_queue(queue) == "service_account"
    body = json.dumps({"project_uuid": "3" * 32, "account_username": "svc", "action": "create"})
    message, _ = decode(body, queue, None)
    assert isinstance(message, m.ProjectAccountChanged)
    assert message.account_username == "svc"


def test_role_event():
    body = json.dumps(
        {
            "object_type": "user_role",
            "project_uuid": "a" * 32,
            "user_uuid": "b" * 32,
            "granted": True,
            "role_name": "PROJECT.ADMIN",
        }
    )
    message, _ = decode(body, "q", None)
    assert isinstance(message, m.RoleChanged) and message.granted is True


def test_malformed_oversized_and_unknown_events_are_refused():
    assert decode(b"{not json", "q", None)[0] is None
    assert decode(b'"a string"', "q", None)[0] is None
    assert decode(b"x" * (MAX_PAYLOAD + 1), "q", None)[1].startswith("payload of")
    message, reason = decode(json.dumps({"object_type": "user_ssh_key"}), "q", None)
    assert message is None and "not handled" in reason
    hostile = {"object_type": "order", "order_uuid": "../../users/me", "order_state": "executing"}
    message, reason = decode(json.dumps(hostile), "q", None)
    assert message is None and reason == "order_uuid '../../users/me' is not a UUID"
    message, reason = decode(json.dumps({"object_type": "order"}), "q", None)
    assert message is None and "order_uuid" in reason
    message, reason = decode(json.dumps({"object_type": "order", "order_uuid": 5}), "q", None)
    assert message is None


def test_periodic_limits_event_carries_the_policy_and_its_settings():
    body = {
        "object_type": "resource_periodic_limits",
        "resource_uuid": "a" * 32,
        "backend_id": "acc",
        "policy_uuid": "b" * 32,
        "action": "apply_periodic_settings",
        "settings": {"fairshare": 10, "grp_tres_mins": {"cpu": 600}},
    }
    message, _ = decode(json.dumps(body), "q", None)
    assert message == m.PeriodicSettingsRequested(
        resource_uuid="a" * 32,
        policy_uuid="b" * 32,
        settings={"fairshare": 10, "grp_tres_mins": {"cpu": 600}},
    )
    message, reason = decode(json.dumps({**body, "policy_uuid": "../x"}), "q", None)
    assert message is None and "policy_uuid" in reason
    message, reason = decode(json.dumps({**body, "settings": None}), "q", None)
    assert message is None and "settings" in reason


def test_importable_resources_event_names_the_request():
    body = json.dumps({"backend_resource_request_uuid": "c" * 32})
    queue = "subscription_" + "1" * 32 + "_offering_" + "2" * 32 + "_importable_resources"
    message, _ = decode(body, queue, None)
    assert message == m.ImportRequested(request_uuid="c" * 32)
    message, reason = decode(json.dumps({"object_type": "importable_resources"}), "q", None)
    assert message is None and "backend_resource_request_uuid" in reason
    hostile = {"object_type": "importable_resources", "backend_resource_request_uuid": "../x"}
    assert decode(json.dumps(hostile), "q", None)[0] is None


def test_api_key_rotation_event_carries_the_key_and_its_resource():
    body = {
        "object_type": "resource_api_key_rotation",
        "action": "rotate",
        "resource_uuid": "d" * 32,
        "resource_backend_id": "waldur_org_proj_dddddddd",
        "api_key_uuid": "e" * 32,
        "client_id": "AKIAEXAMPLE000000001",
    }
    message, _ = decode(json.dumps(body), "q", None)
    assert message == m.KeyRotationRequested(
        action="rotate",
        resource_uuid="d" * 32,
        resource_backend_id="waldur_org_proj_dddddddd",
        api_key_uuid="e" * 32,
        client_id="AKIAEXAMPLE000000001",
    )
    assert decode(json.dumps({**body, "api_key_uuid": "../x"}), "q", None)[0] is None
    assert decode(json.dumps({**body, "resource_uuid": None}), "q", None)[0] is None
