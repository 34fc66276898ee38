"""The federation backend against a Waldur B simulator, called the way the core calls it."""

import time
from urllib.parse import urlsplit

import pytest

from tests.federation.conftest import COMPONENTS
from tests.forward_proxy import ForwardProxy, behind_proxy
from waldur_site_agent_actors.backends.exceptions import (
    BackendError,
    BackendNotReadyError,
    ConfigurationError,
)
from waldur_site_agent_actors.backends.structures import TOTAL_ACCOUNT_USAGE, WaldurResource
from waldur_site_agent_actors.backends.waldur.backend import WaldurBackend

CUSTOMER_A = "c" * 32
PROJECT_A, OTHER_PROJECT_A = "a" * 32, "b" * 32


def resource(uuid: str = "1" * 32, project: str = PROJECT_A, **limits: float) -> WaldurResource:
    return WaldurResource(
        uuid=uuid,
        name=f"run {uuid[:4]}",
        project_uuid=project,
        project_name=f"Project {project[:4]}",
        customer_uuid=CUSTOMER_A,
        customer_name="University",
        limits=limits or {"cpu": 100, "small_nodes": 2, "large_nodes": 3},
        attributes={"name": "x", "purpose": "climate", "secret_note": "stays"},
    )


def team(*members: tuple[str, str]) -> list[dict]:
    return [
        {
            "username": name,
            "email": f"{name}@example.org",
            "role": role,
            "offering_user_username": name,
            "offering_user_state": "OK",
        }
        for name, role in members
    ]


@pytest.fixture
def backend(b):
    return WaldurBackend(b.settings(passthrough_attributes=["purpose"]), COMPONENTS)


def create(backend, b, res=None, context=None):
    """A resource created on B, B's order finished by B's provider: its B UUID."""
    info = backend.create_resource_with_id(res or resource(), "", context)
    assert backend.check_pending_order(info.pending_order_id) is False
    b.finish(info.pending_order_id)
    assert backend.check_pending_order(info.pending_order_id) is True
    return info.backend_id


def test_create_orders_on_b_in_one_project_per_project_here(backend, b):
    assert backend.ping() is True
    info = backend.create_resource_with_id(resource(), "", {"team": []})
    (order,) = b.orders()
    assert order["uuid"] == info.pending_order_id
    assert order["state"] == "pending-provider"
    assert order["limits"] == {"cpu": 100, "nodes": 14}
    # The resource here it is made for rides along: B's resource carries the owner record.
    owner = {"waldur_site_agent_owner": f"waldur-resource-{'1' * 32}"}
    assert order["attributes"] == {"name": "run 1111", "purpose": "climate", **owner}
    assert order["plan"]
    assert info.backend_id == order["resource"]
    (project,) = b.sim.objects("projects")
    assert project["backend_id"] == f"{CUSTOMER_A}_{PROJECT_A}"
    assert project["customer"] == b.customer_uuid
    assert project["name"] == "Project aaaa"

    backend.create_resource_with_id(resource("2" * 32), "")
    backend.create_resource_with_id(resource("3" * 32, OTHER_PROJECT_A), "")
    projects = {p["backend_id"] for p in b.sim.objects("projects")}
    assert projects == {f"{CUSTOMER_A}_{PROJECT_A}", f"{CUSTOMER_A}_{OTHER_PROJECT_A}"}


def test_a_creation_interrupted_after_b_made_the_resource_waits_for_the_same_order(backend, b):
    info = backend.create_resource_with_id(resource(), "")
    again = backend.create_resource_with_id(
        resource().with_backend_id(info.backend_id), info.backend_id
    )
    assert (again.backend_id, again.pending_order_id) == (info.backend_id, info.pending_order_id)
    assert len(b.orders()) == 1
    assert backend.pull_resource(resource().with_backend_id(info.backend_id)) is None  # Creating
    assert backend.claim(resource(), info.backend_id) == "ours"
    assert backend.claim(resource("2" * 32), info.backend_id) == "theirs"


def test_failed_b_orders_fail_with_what_b_said(backend, b):
    rejected = backend.create_resource_with_id(resource(), "")
    b.reject(rejected.pending_order_id, "no GPUs for this project")
    with pytest.raises(BackendError, match=r"provider rejected order .*: no GPUs for this project"):
        backend.check_pending_order(rejected.pending_order_id)

    erred = backend.create_resource_with_id(resource("2" * 32), "")
    uuid = erred.pending_order_id
    b.provider._call("POST", f"marketplace-orders/{uuid}/approve_by_provider/", {})
    body = {"error_message": "partition gpu is down"}
    b.provider._call("POST", f"marketplace-orders/{uuid}/set_state_erred/", body)
    with pytest.raises(BackendError, match=r"could not carry out order .*: partition gpu is down"):
        backend.check_pending_order(uuid)

    with pytest.raises(BackendError, match="gone from Waldur B"):
        backend.check_pending_order("9" * 32)


def test_an_order_b_leaves_pending_too_long_fails(b):
    impatient = WaldurBackend(b.settings(order_poll_timeout=0.2), COMPONENTS)
    info = impatient.create_resource_with_id(resource(), "")
    assert impatient.check_pending_order(info.pending_order_id) is False
    time.sleep(1.1)  # the simulator stamps orders to the second
    with pytest.raises(BackendError, match=r"still pending-provider after 0\.2 s"):
        impatient.check_pending_order(info.pending_order_id)


def test_update_and_terminate_are_orders_on_b_too(backend, b):
    uuid = create(backend, b)
    order = backend.set_resource_limits(uuid, {"cpu": 200, "small_nodes": 2, "large_nodes": 3})
    assert backend.set_resource_limits(uuid, {"cpu": 200}) == order  # in flight: adopted
    (update,) = b.orders("pending-provider")
    assert (update["uuid"], update["type"], update["limits"]) == (
        order,
        "Update",
        {"cpu": 200, "nodes": 14},
    )
    b.finish(order)
    assert backend.check_pending_order(order) is True
    assert b.sim.objects("resources", uuid=uuid)[0]["limits"] == {"cpu": 200, "nodes": 14}
    assert (
        backend.set_resource_limits(uuid, {"cpu": 200, "small_nodes": 2, "large_nodes": 3}) is None
    )

    terminate = backend.delete_resource(resource().with_backend_id(uuid))
    assert backend.delete_resource(resource().with_backend_id(uuid)) == terminate
    b.finish(terminate)
    assert backend.check_pending_order(terminate) is True
    assert b.sim.objects("resources", uuid=uuid)[0]["state"] == "Terminated"
    assert backend.delete_resource(resource().with_backend_id(uuid)) is None
    assert backend.pull_resource(resource().with_backend_id(uuid)) is None


def test_soft_delete_sets_bs_limits_to_zero_and_keeps_bs_resource(b):
    soft = WaldurBackend(b.settings(soft_delete=True), COMPONENTS)
    uuid = create(soft, b)
    order = soft.delete_resource(resource().with_backend_id(uuid))
    (update,) = b.orders("pending-provider")
    assert (update["uuid"], update["type"]) == (order, "Update")
    # Every limit B holds goes to 0; the usage component's targets take no limit on B.
    assert update["limits"] == {"cpu": 0, "nodes": 0}, update["limits"]
    b.finish(order)
    assert soft.check_pending_order(order) is True
    kept = b.sim.objects("resources", uuid=uuid)[0]
    assert kept["state"] == "OK"
    assert (kept["limits"]["cpu"], kept["limits"]["nodes"]) == (0, 0)
    assert soft.pull_resource(resource().with_backend_id(uuid)) is not None


def test_settled_orders_are_reported_once(backend, b):
    first = backend.create_resource_with_id(resource(), "")
    second = backend.create_resource_with_id(resource("2" * 32), "")
    assert backend.settled_target_orders() == []
    b.finish(second.pending_order_id)
    assert backend.settled_target_orders() == [second.pending_order_id]
    assert backend.settled_target_orders() == []
    b.reject(first.pending_order_id, "")
    assert backend.settled_target_orders() == [first.pending_order_id]


def test_usage_on_b_comes_back_in_the_components_here(backend, b):
    uuid = create(backend, b)
    b.report_usage(uuid, {"cpu": 40, "nodes": 8, "gpu_hours": 500, "storage_gb_hours": 800})
    b.report_user_usage(uuid, "gpu_hours", "alice-b", 300)
    report = backend.get_usage_report([uuid, "9" * 32])
    assert report == {
        uuid: {
            TOTAL_ACCOUNT_USAGE: {"cpu": 40, "node_hours": 180, "small_nodes": 8, "large_nodes": 2},
            "alice-b": {"node_hours": 60},
        },
        "9" * 32: {TOTAL_ACCOUNT_USAGE: {}},
    }
    today = time.gmtime()
    assert backend.get_usage_report_for_period([uuid], today.tm_year, today.tm_mon) == {
        uuid: report[uuid]
    }
    assert backend.get_usage_report_for_period([uuid], 2001, 1) == {uuid: {TOTAL_ACCOUNT_USAGE: {}}}


def test_the_b_project_team_mirrors_the_team_here(backend, b):
    context = {"team": team(("alice", "PROJECT.ADMIN"), ("bob", "PROJECT.MEMBER"))}
    uuid = create(backend, b, context=context)
    assert backend.add_users_to_resource(uuid, {"alice", "bob"}) == {"alice", "bob"}
    project = f"{CUSTOMER_A}_{PROJECT_A}"
    assert b.project_team(project) == {"alice-b": "PROJECT.ADMIN", "bob-b": "PROJECT.MEMBER"}

    changed = team(
        ("alice", "PROJECT.MEMBER"), ("carol", "PROJECT.MANAGER"), ("dave", "PROJECT.MEMBER")
    )
    added, removed = backend.sync_resource_team(uuid, changed)
    assert sorted(added) == ["alice", "carol"]
    assert sorted(removed) == ["alice-b", "bob-b"]
    assert b.project_team(project) == {"alice-b": "PROJECT.MEMBER", "carol-b": "PROJECT.MANAGER"}
    assert backend.sync_resource_team(uuid, changed) == ([], [])

    backend.sync_resource_team(uuid, changed[:1], add_missing=False)
    assert b.project_team(project) == {"alice-b": "PROJECT.MEMBER"}


@pytest.mark.parametrize(
    ("method", "field", "member", "expected"),
    [
        (
            "remote_eduteams",
            "email",
            {"username": "alice", "email": "ALICE@example.org"},
            "alice-b",
        ),
        ("remote_eduteams", "username", {"username": "dave", "email": "dave@example.org"}, "dave"),
        ("remote_eduteams", "cuid", {"username": "dave", "email": "dave@example.org"}, "dave"),
        ("user_field", "email", {"username": "alice", "email": "alice@example.org"}, "alice-b"),
        ("user_field", "cuid", {"username": "dave", "email": "dave@example.org"}, "dave"),
    ],
)
def test_users_are_matched_by_the_configured_field(b, method, field, member, expected):
    from waldur_site_agent_actors.backends.waldur.members import Member

    settings = b.settings(user_resolve_method=method, user_match_field=field)
    backend = WaldurBackend(settings, COMPONENTS)
    b.sim.reset_counters()
    b_users = {u["uuid"]: u["username"] for u in b.sim.objects("users")}
    assert b_users[backend.members.resolve(Member(**member))] == expected
    assert backend.members.resolve(Member(username="nobody", email="nobody@example.org")) is None
    eduteams = method == "remote_eduteams" and field == "cuid"
    asked = {r["path"] for r in b.sim.requests()}
    assert asked == ({"/api/remote-eduteams/"} if eduteams else {"/api/users/"})


def test_a_user_missing_on_b_fails_the_sync_when_told_to_after_the_others(b):
    backend = WaldurBackend(b.settings(user_not_found_action="fail"), COMPONENTS)
    uuid = create(backend, b)
    members = team(("alice", "PROJECT.ADMIN"), ("dave", "PROJECT.MEMBER"))
    with pytest.raises(
        BackendError, match=r"dave has no account on Waldur B \(email 'dave@example.org'\)"
    ):
        backend.sync_resource_team(uuid, members)
    assert b.project_team(f"{CUSTOMER_A}_{PROJECT_A}") == {"alice-b": "PROJECT.ADMIN"}


def test_the_event_queue_is_registered_through_the_global_proxy(b):
    """As upstream's plugin registers its target queue: through the agent's `global_proxy`.
    Waldur B's name here resolves only through the proxy."""
    proxy = ForwardProxy(urlsplit(b.sim.api_url).port or 80)
    try:
        settings = b.settings(target_stomp_enabled=True, target_websocket_use_tls=False)
        settings["target_api_url"] = behind_proxy(b.sim.api_url)
        backend = WaldurBackend(settings, COMPONENTS)
        with pytest.raises(BackendNotReadyError, match="does not answer"):
            backend.setup_target_event_subscriptions()  # no proxy: B cannot be reached
        (queue,) = backend.setup_target_event_subscriptions(global_proxy=proxy.url)
        (identity,) = b.sim.objects("identities")
        assert queue.queue == f"consumer_{identity['uuid']}"
        assert proxy.carried("POST", f"/{identity['uuid']}/register_queue/"), proxy.seen
    finally:
        proxy.close()


def test_event_queue_is_registered_under_an_identity_of_its_own(b):
    backend = WaldurBackend(
        b.settings(target_stomp_enabled=True, target_websocket_use_tls=False), COMPONENTS
    )
    (queue,) = backend.setup_target_event_subscriptions()
    assert backend.setup_target_event_subscriptions() == [queue]
    (identity,) = b.sim.objects("identities")
    assert identity["name"] == f"federation-{b.customer_uuid}"
    assert (queue.host, queue.port, queue.path) == ("127.0.0.1", 80, "/rmqws-stomp")
    assert queue.queue == f"consumer_{identity['uuid']}"
    assert b.federator_token not in repr(queue)
    assert WaldurBackend(b.settings(), COMPONENTS).setup_target_event_subscriptions() == []


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"target_api_url": None}, "target_api_url"),
        ({"user_match_field": "orcid"}, "user_match_field"),
        ({"target_api_tokn": "x"}, "target_api_tokn"),
    ],
)
def test_bad_settings_are_configuration_errors(b, settings, message):
    raw = {k: v for k, v in {**b.settings(), **settings}.items() if v is not None}
    with pytest.raises(ConfigurationError, match=message):
        WaldurBackend(raw, COMPONENTS)


def test_an_unreachable_b_is_not_ready_not_a_failure(b):
    backend = WaldurBackend(b.settings(target_api_url="http://127.0.0.1:9/api/"), COMPONENTS)
    assert backend.ping() is False
    with pytest.raises(BackendNotReadyError, match="does not answer"):
        backend.check_pending_order("1" * 32)


def test_b_refusing_an_order_outright_says_why(b):
    components = {
        **COMPONENTS,
        "cpu": {**COMPONENTS["cpu"], "target_components": {"gpu_hours": {}}},
    }
    backend = WaldurBackend(b.settings(), components)
    with pytest.raises(BackendError, match=r"HTTP 400.*Invalid types: gpu_hours"):
        backend.create_resource_with_id(resource(), "")
    assert b.orders() == []
