"""The project's own Waldur client (actors.waldur) against the simulator: every call the actors
make decodes, and transient faults are retried as the client promises."""

from datetime import UTC, datetime

import pytest

from tests.simulator.conftest import Api
from waldur_site_agent_actors.actors.waldur.agents import Agents
from waldur_site_agent_actors.actors.waldur.client import (
    Unreadable,
    WaldurClient,
    WaldurError,
    WaldurUnreachable,
)
from waldur_site_agent_actors.actors.waldur.offering_users import OfferingUsers
from waldur_site_agent_actors.actors.waldur.offerings import Offerings
from waldur_site_agent_actors.actors.waldur.orders import Orders
from waldur_site_agent_actors.actors.waldur.resources import Resources
from waldur_site_agent_actors.actors.waldur.usages import Usages


@pytest.fixture
def client(sim):
    c = WaldurClient(sim.api_url, sim.provider_token, backoff_base=0.01, backoff_max=0.05)
    yield c
    c.close()


def test_order_cycle_through_the_agent_client(sim, client, info):
    staff = Api(sim, sim.staff_token)
    for i in range(12):  # more than one default page
        staff.post(
            "marketplace-orders/",
            {
                "offering": info["offerings"][0]["url"],
                "project": info["projects"][i % 2]["url"],
                "plan": info["offerings"][0]["plans"][0]["url"],
                "limits": {"cpu": 10, "mem": 20},
                "attributes": {"name": f"acc{i}"},
            },
        )
    offering_uuid = info["offerings"][0]["uuid"]
    orders, resources = Orders(client), Resources(client)
    offerings, users = Offerings(client), OfferingUsers(client)
    pending = orders.actionable(offering_uuid).items
    assert len(pending) == 12
    order = pending[0]
    orders.approve(order.uuid)
    assert orders.get(order.uuid).state == "executing"
    resource = resources.get(order.marketplace_resource_uuid)
    assert resource.state == "Creating" and resource.limits == {"cpu": 10, "mem": 20}
    team = resources.team(resource.uuid)
    assert team and all(m.offering_user_state == "Requested" for m in team)
    offering = offerings.get(offering_uuid)
    assert {c.type for c in offering.components} == {"cpu", "mem", "gpu"}
    sp = offerings.service_provider(offering.customer_uuid)
    assert sp and offerings.provider_ssh_keys(sp)
    assert offerings.plan(order.plan_uuid).quotas["cpu"] == 1000
    assert offerings.is_backend_id_unique(offering_uuid, "acc0")
    resources.set_backend_id(resource.uuid, "acc0")
    assert not offerings.is_backend_id_unique(offering_uuid, "acc0")
    resources.set_limits(resource.uuid, {"cpu": 10, "mem": 20})
    resources.set_backend_metadata(resource.uuid, {"account": "acc0"})
    resources.set_endpoints(resource.uuid, [{"name": "login", "url": "ssh://hpc"}])
    orders.set_done(order.uuid)
    assert resources.get(resource.uuid).state == "OK"
    for ou in users.of_offering(offering_uuid):
        users.begin_creating(ou.uuid)
        users.set_username(ou.uuid, f"{ou.user_username}_x")
    assert {u.state for u in users.of_offering(offering_uuid)} == {"OK"}
    usages = Usages(client)
    month = datetime.now(UTC).strftime("%Y-%m-01")
    usages.set_usage(resource.uuid, f"{month}T00:00:00+00:00", {"cpu": 1.5, "gpu": 2})
    rows = usages.of_month(resource.uuid, month)
    assert sorted((r.type, r.usage) for r in rows) == [("cpu", "1.50"), ("gpu", "2.00")]
    cpu = next(r for r in rows if r.type == "cpu")
    usages.set_user_usages(cpu.uuid, f"{month}T00:00:00+00:00", {"alice_x": 1.0, "bob_x": 0.5})
    assert len(usages.user_usages_of_month(resource.uuid, month)) == 2
    assert usages.user_limits(resource.uuid) == []
    ok = [r.uuid for r in resources.of_offering(offering_uuid, ("OK", "Erred"))]
    assert ok == [resource.uuid]
    second = pending[1]
    orders.approve(second.uuid)
    orders.set_erred(second.uuid, "backend said no")
    assert orders.get(second.uuid).error_message == "backend said no"
    with pytest.raises(WaldurError) as caught:
        orders.approve(second.uuid)
    assert caught.value.status == 409


def test_agent_registration_through_the_agent_client(sim, client, info):
    offering_uuid = info["offerings"][0]["uuid"]
    agents = Agents(client)
    identity = agents.ensure_identity(offering_uuid, "0.1.0", [])
    assert agents.ensure_identity(offering_uuid, "0.1.1", []).uuid == identity.uuid
    assert agents.register_service(identity.uuid, "order_process", "order_process")
    unified = agents.register_queue(identity.uuid, ["order"])
    assert unified and unified.queue_name == f"consumer_{identity.uuid}"
    subscription = agents.register_subscription(identity.uuid, "order")
    queue = agents.create_queue(subscription.uuid, offering_uuid, "order")
    assert queue.vhost == subscription.user_uuid


def test_transient_faults_are_retried(sim, client):
    sim.add_fault(endpoint="GET /api/version/", error_rate=1.0, status=429, retry_after=0, times=2)
    before = client.calls
    assert client.get("version/", dict)["version"]
    assert client.calls - before == 3
    sim.add_fault(endpoint="GET /api/version/", reset_rate=1.0)
    with pytest.raises(WaldurUnreachable):
        client.get("version/", dict)


def test_consumer_client_drives_the_consumer_side(sim, info):
    from waldur_site_agent_actors.simulators.waldur.client import ConsumerClient

    consumer = ConsumerClient(sim.api_url, sim.staff_token)
    offering, project = info["offerings"][0], info["projects"][0]
    order = consumer.order(
        offering["url"], project["url"], {"cpu": 5}, name="c1", plan_url=offering["plans"][0]["url"]
    )
    assert consumer.order_details(order["uuid"])["state"] == "pending-provider"
    resource = order["marketplace_resource_uuid"]
    assert consumer.resource(resource)["name"] == "c1"
    carol = consumer.user_uuid("carol")
    consumer.add_user(project["uuid"], carol, "PROJECT.MEMBER")
    consumer.remove_user(project["uuid"], carol)
    provider = Orders(WaldurClient(sim.api_url, sim.provider_token))
    provider.approve(order["uuid"])
    provider.set_done(order["uuid"])
    update = consumer.update_limits(resource, {"cpu": 6})
    assert consumer.order_details(update)["type"] == "Update"
    with pytest.raises(RuntimeError, match="409"):
        consumer.terminate(resource)
    consumer.close()


def test_oidc_client_credentials(sim, info):
    oidc = info["oidc"][0]
    client = WaldurClient(
        sim.api_url, oidc=(oidc["token_url"], oidc["client_id"], oidc["client_secret"])
    )
    me = client.get("users/me/", dict)
    assert me["username"] == "provider"
    assert sim.counts()["GET /api/users/me/"] == 1
    wrong = WaldurClient(sim.api_url, oidc=(oidc["token_url"], oidc["client_id"], "nope"))
    with pytest.raises(Exception, match="401"):
        wrong.get("users/me/", dict)
    bogus = Api(sim, None)
    bogus.session.headers["Authorization"] = "Bearer not-a-token"
    assert bogus.get("users/me/").json() == {"detail": "Invalid token."}


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_verify_ssl_false_holds_even_with_requests_ca_bundle_set(tmp_path, monkeypatch):
    import certifi

    from tests.tls import self_signed
    from waldur_site_agent_actors.simulators.croit import CroitSimulator

    cert, key = self_signed(tmp_path)
    # requests would let this variable turn verification back on for the session.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    with CroitSimulator(certfile=cert, keyfile=key) as https:  # any HTTPS server will do
        strict = WaldurClient(https.api_url, "token", verify_ssl=True, max_attempts=1)
        with pytest.raises(WaldurUnreachable):
            strict.request("GET", "users/me/")
        relaxed = WaldurClient(https.api_url, "token", verify_ssl=False, max_attempts=1)
        with pytest.raises(WaldurError) as answered:  # an HTTP answer: TLS was not verified
            relaxed.request("GET", "users/me/")
        assert not isinstance(answered.value, WaldurUnreachable)


def test_the_environments_proxy_settings_hold(sim, monkeypatch):
    """Read once when the client is made: a proxy that refuses everything makes Waldur
    unreachable, unless NO_PROXY names Waldur's host."""
    host = sim.api_url.split("//", 1)[1].split(":", 1)[0]
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # the discard port: nothing listens
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    proxied = WaldurClient(sim.api_url, sim.provider_token, max_attempts=1)
    with pytest.raises(WaldurUnreachable):
        proxied.request("GET", "users/me/")
    monkeypatch.setenv("NO_PROXY", host)
    direct = WaldurClient(sim.api_url, sim.provider_token, max_attempts=1)
    assert direct.request("GET", "users/me/").status_code == 200


def test_an_answer_the_client_cannot_read_fails_only_its_item(sim, client, info):
    staff = Api(sim, sim.staff_token)
    offering, project = info["offerings"][0], info["projects"][0]
    placed = [
        staff.post(
            "marketplace-orders/",
            {"offering": offering["url"], "project": project["url"], "limits": {"cpu": cpu}},
        ).json()
        for cpu in (1, 7, 2)
    ]
    poison = placed[1]["uuid"]
    sim.add_fault(rewrite={'"cpu": 7': '"cpu": NaN'})
    orders = Orders(client)
    listing = orders.actionable(offering["uuid"])
    assert {o.uuid for o in listing.items} >= {placed[0]["uuid"], placed[2]["uuid"]}
    assert poison not in {o.uuid for o in listing.items}
    (unreadable,) = listing.unreadable
    assert unreadable.uuid == poison
    assert "limits.cpu is nan, not a finite number" in unreadable.reason
    with pytest.raises(Unreadable, match=r"limits\.cpu is nan") as caught:
        orders.get(poison)
    assert caught.value.uuid == poison and not caught.value.transient
    assert isinstance(caught.value, WaldurError)
    # A list answer the agent cannot read at all is one error, not a crash.
    sim.clear_faults()
    sim.add_fault(endpoint="GET /api/marketplace-orders/", rewrite={"[": "<html>"})
    with pytest.raises(Unreadable, match="not JSON"):
        orders.actionable(offering["uuid"])
