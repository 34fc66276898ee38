"""Every response body of the simulator parses with the waldur-api-client 8.1 model the real
server's schema names (required keys present, UUIDs, dates and enums valid) and has exactly that
model's keys (and its nested models' keys), over a scenario that walks every order type and
state, usages, offering users and the agent registry; and the walks reach every route whose
answer the client declares a model for. (The `sim` fixture checks every body it serves against
its route's model too, see schema_check.py.)"""

import inspect
from datetime import UTC, datetime, timedelta

import pytest
from waldur_api_client import models as m

from tests.simulator.conftest import Api
from tests.simulator.schema_check import ANSWERS, Bodies, differences
from waldur_site_agent_actors.simulators.waldur import WaldurSimulator


def parse(model, response, status=200, beyond=()):
    """The body, checked against `model`; `beyond` names keys the real server adds to it."""
    assert response.status_code == status, (response.request.method, response.url, response.text)
    body = response.json()
    items = body if isinstance(body, list) else [body]
    parsed = [model.from_dict(item) for item in items]
    for item in parsed:
        item.to_dict()
    selected = "field=" in response.request.url
    kept = [{k: v for k, v in item.items() if k not in beyond} for item in items]
    unlike = [d for item in kept for d in differences(model.__name__, item, selected)]
    assert not unlike, (response.request.method, response.url, unlike)
    return body


def empty(response, status=200):
    assert response.status_code == status, (response.url, response.text)
    assert response.content == b""


def place(api, info, project=0, limits=None, name="acc"):
    body = {
        "offering": info["offerings"][0]["url"],
        "project": info["projects"][project]["url"],
        "plan": info["offerings"][0]["plans"][0]["url"],
        "limits": limits if limits is not None else {"cpu": 100, "mem": 200},
        "attributes": {"name": name},
    }
    return parse(m.OrderDetails, api.post("marketplace-orders/", body), 201)


def month_start():
    now = datetime.now(UTC)
    return f"{now.year:04d}-{now.month:02d}-01"


def test_create_order_walk_as_the_agent_does(staff, provider, info, sim):
    order = place(staff, info)
    assert order["state"] == "pending-provider"
    offering = info["offerings"][0]["uuid"]
    listed = parse(
        m.OrderDetails,
        provider.get(
            "marketplace-orders/",
            offering_uuid=offering,
            state=["pending-provider", "executing"],
            page_size=100,
        ),
    )
    assert [o["uuid"] for o in listed] == [order["uuid"]]
    parse(
        m.OrderInfoResponse,
        provider.post(f"marketplace-orders/{order['uuid']}/approve_by_provider/"),
    )
    again = provider.post(f"marketplace-orders/{order['uuid']}/approve_by_provider/")
    assert again.status_code == 409
    order_id = {"backend_id": "async-1"}
    parse(m.Status, provider.post(f"marketplace-orders/{order['uuid']}/set_backend_id/", order_id))
    assert again.json() == {"detail": "Valid states for operation: pending-provider."}

    resource_uuid = order["marketplace_resource_uuid"]
    base = f"marketplace-provider-resources/{resource_uuid}/"
    resource = parse(m.Resource, provider.get(base))
    assert resource["state"] == "Creating"
    team = parse(m.ProjectUser, provider.get(base + "team/"))
    assert {t["username"] for t in team} == {"alice", "bob"}
    users = parse(
        m.OfferingUser,
        provider.get("marketplace-offering-users/", offering_uuid=offering, is_restricted="false"),
    )
    assert {u["state"] for u in users} == {"Requested"}
    parse(m.ProviderPlanDetails, provider.get(f"marketplace-plans/{resource['plan_uuid']}/"))
    details = parse(
        m.ProviderOfferingDetails,
        provider.get(
            f"marketplace-provider-offerings/{offering}/",
            field=["components", "customer_uuid", "partitions", "plugin_options"],
        ),
    )
    assert details["plugin_options"]["username_generation_policy"] == "service_provider"
    sps = parse(
        m.ServiceProvider,
        provider.get(
            "marketplace-service-providers/", customer_uuid=details["customer_uuid"], field="uuid"
        ),
    )
    assert sps == [{"uuid": resource["provider_uuid"]}]
    keys = parse(m.SshKey, provider.get(f"marketplace-service-providers/{sps[0]['uuid']}/keys/"))
    assert len(keys) == 1  # alice's key: project members only
    parse(m.Project, provider.get(f"marketplace-service-providers/{sps[0]['uuid']}/projects/"))
    unique = parse(
        m.CheckUniqueBackendIDResponse,
        provider.post(
            f"marketplace-provider-offerings/{offering}/check_unique_backend_id/",
            {"backend_id": "hpc_acc", "check_all_offerings": False},
        ),
    )
    assert unique["is_unique"] is True
    status = parse(m.Status, provider.post(base + "set_backend_id/", {"backend_id": "hpc_acc"}))
    assert status == {"status": "Resource backend_id has been changed."}
    assert (
        parse(m.Status, provider.post(base + "set_backend_id/", {"backend_id": "hpc_acc"}))[
            "status"
        ]
        == "Resource backend_id is not changed."
    )
    parse(m.Status, provider.post(base + "set_limits/", {"limits": {"cpu": 100, "mem": 200}}))
    parse(
        m.Status, provider.post(base + "set_backend_metadata/", {"backend_metadata": {"qos": "n"}})
    )
    parse(
        m.Status,
        provider.post(
            base + "set_endpoints/", {"endpoints": [{"name": "ssh", "url": "ssh://login"}]}
        ),
    )
    report = parse(
        m.MemberSyncStatusReportResult,
        provider.post(
            base + "set_membership_sync_statuses/",
            {
                "statuses": [
                    {
                        "scope_type": "resource",
                        "role_name": "PROJECT.ADMIN",
                        "state": "synced",
                        "username": "alice",
                    }
                ]
            },
        ),
    )
    assert report == {"stored": 1, "skipped": []}
    check = parse(
        m.OrderDetails,
        provider.get(f"marketplace-orders/{order['uuid']}/", field=["uuid", "state"]),
    )
    assert check == {"uuid": order["uuid"], "state": "executing"}
    empty(provider.post(f"marketplace-orders/{order['uuid']}/set_state_done/"))
    resource = parse(m.Resource, provider.get(base))
    assert (resource["state"], resource["backend_id"]) == ("OK", "hpc_acc")
    assert resource["endpoints"][0]["name"] == "ssh"
    done = parse(m.OrderDetails, provider.get(f"marketplace-orders/{order['uuid']}/"))
    assert done["state"] == "done" and done["completed_at"]
    empty(provider.post(base + "refresh_last_sync/"))
    empty(provider.post(base + "set_as_erred/", {"error_message": "boom"}))
    assert parse(m.Resource, provider.get(base))["state"] == "Erred"
    empty(provider.post(base + "set_as_ok/"))
    listed = parse(
        m.Resource,
        provider.get(
            "marketplace-provider-resources/", offering_uuid=offering, state=["OK", "Erred"]
        ),
    )
    assert [r["uuid"] for r in listed] == [resource_uuid]
    parse(m.Resource, staff.get("marketplace-resources/"))


def test_resource_options_change_directly_or_through_an_update_order(staff, provider, info, sim):
    order = place(staff, info)
    resource = order["marketplace_resource_uuid"]
    provider.post(f"marketplace-orders/{order['uuid']}/approve_by_provider/")
    provider.post(f"marketplace-orders/{order['uuid']}/set_state_done/")
    url = f"marketplace-resources/{resource}/update_options/"

    parse(m.Status, staff.post(url, {"options": {"storage_limit": 10}}))
    res = parse(m.Resource, provider.get(f"marketplace-provider-resources/{resource}/"))
    assert res["options"] == {"storage_limit": 10} and res["state"] == "OK"

    with sim.state.lock:
        offering = sim.state.get("offerings", info["offerings"][0]["uuid"])
        offering["plugin_options"]["create_orders_on_resource_option_change"] = True
    answer = parse(
        m.Status, staff.post(url, {"options": {"storage_limit": 20}}), beyond={"order_uuid"}
    )
    update = parse(m.OrderDetails, provider.get(f"marketplace-orders/{answer['order_uuid']}/"))
    assert update["type"] == "Update"
    assert update["attributes"]["new_options"] == {"storage_limit": 20}
    assert update["limits"] == {"cpu": 100, "mem": 200}
    res = parse(m.Resource, provider.get(f"marketplace-provider-resources/{resource}/"))
    assert res["state"] == "Updating" and res["options"] == {"storage_limit": 10}
    assert staff.post(url, {"options": {"storage_limit": 30}}).status_code == 409
    provider.post(f"marketplace-orders/{update['uuid']}/approve_by_provider/")
    empty(provider.post(f"marketplace-orders/{update['uuid']}/set_state_done/"))
    res = parse(m.Resource, provider.get(f"marketplace-provider-resources/{resource}/"))
    assert res["state"] == "OK" and res["options"] == {"storage_limit": 20}


def test_update_and_terminate_orders_couple_with_the_resource(staff, provider, info):
    order = place(staff, info)
    uuid, resource = order["uuid"], order["marketplace_resource_uuid"]
    provider.post(f"marketplace-orders/{uuid}/approve_by_provider/")
    provider.post(f"marketplace-orders/{uuid}/set_state_done/")

    same = staff.post(
        f"marketplace-resources/{resource}/update_limits/", {"limits": {"cpu": 100, "mem": 200}}
    )
    assert same.status_code == 400
    answer = parse(
        m.OrderUUID,
        staff.post(
            f"marketplace-resources/{resource}/update_limits/", {"limits": {"cpu": 300, "mem": 200}}
        ),
    )
    update = parse(m.OrderDetails, provider.get(f"marketplace-orders/{answer['order_uuid']}/"))
    assert (update["type"], update["state"]) == ("Update", "pending-provider")
    assert update["attributes"]["old_limits"] == {"cpu": 100, "mem": 200}
    res = parse(m.Resource, provider.get(f"marketplace-provider-resources/{resource}/"))
    assert res["state"] == "Updating" and res["limits"] == {"cpu": 100, "mem": 200}
    provider.post(f"marketplace-orders/{update['uuid']}/approve_by_provider/")
    empty(provider.post(f"marketplace-orders/{update['uuid']}/set_state_done/"))
    res = parse(m.Resource, provider.get(f"marketplace-provider-resources/{resource}/"))
    assert res["state"] == "OK" and res["limits"] == {"cpu": 300, "mem": 200}

    answer = parse(m.OrderUUID, staff.post(f"marketplace-resources/{resource}/terminate/"))
    again = staff.post(f"marketplace-resources/{resource}/terminate/")
    assert again.status_code == 409
    terminate = answer["order_uuid"]
    provider.post(f"marketplace-orders/{terminate}/approve_by_provider/")
    # a failed termination gives the resource back
    empty(
        provider.post(
            f"marketplace-orders/{terminate}/set_state_erred/",
            {"error_message": "sacctmgr failed", "error_traceback": "..."},
        )
    )
    erred = parse(m.OrderDetails, provider.get(f"marketplace-orders/{terminate}/"))
    assert (erred["state"], erred["error_message"]) == ("erred", "sacctmgr failed")
    assert (
        parse(m.Resource, provider.get(f"marketplace-provider-resources/{resource}/"))["state"]
        == "OK"
    )
    answer = parse(m.OrderUUID, staff.post(f"marketplace-resources/{resource}/terminate/"))
    provider.post(f"marketplace-orders/{answer['order_uuid']}/approve_by_provider/")
    provider.post(f"marketplace-orders/{answer['order_uuid']}/set_state_done/")
    assert (
        parse(m.Resource, provider.get(f"marketplace-provider-resources/{resource}/"))["state"]
        == "Terminated"
    )
    assert staff.post(f"marketplace-resources/{resource}/terminate/").status_code == 409


def test_reject_erred_and_consumer_states(staff, provider, info, user_api):
    rejected = place(staff, info, name="rej")
    empty(provider.post(f"marketplace-orders/{rejected['uuid']}/reject_by_provider/"))
    assert (
        provider.post(f"marketplace-orders/{rejected['uuid']}/reject_by_provider/").status_code
        == 409
    )
    res = parse(
        m.Resource,
        provider.get(f"marketplace-provider-resources/{rejected['marketplace_resource_uuid']}/"),
    )
    assert res["state"] == "Terminated"

    erred = place(staff, info, name="err")
    done_too_early = provider.post(f"marketplace-orders/{erred['uuid']}/set_state_done/")
    assert done_too_early.json() == {"detail": "Valid states for operation: executing."}
    provider.post(f"marketplace-orders/{erred['uuid']}/approve_by_provider/")
    provider.post(
        f"marketplace-provider-resources/{erred['marketplace_resource_uuid']}/set_backend_id/",
        {"backend_id": "acc_err"},
    )
    empty(
        provider.post(
            f"marketplace-orders/{erred['uuid']}/set_state_erred/", {"error_message": "x"}
        )
    )
    res = parse(
        m.Resource,
        provider.get(f"marketplace-provider-resources/{erred['marketplace_resource_uuid']}/"),
    )
    assert res["state"] == "Erred"
    again = provider.post(f"marketplace-orders/{erred['uuid']}/set_state_executing/")
    assert again.status_code == 200

    bob = user_api("bob")  # a plain member: his order waits for the project's approval
    pending = place(bob, info, name="bobs")
    assert pending["state"] == "pending-consumer"
    assert bob.post(f"marketplace-orders/{pending['uuid']}/approve_by_provider/").status_code == 403
    alice = user_api("alice")
    parse(
        m.OrderInfoResponse,
        alice.post(f"marketplace-orders/{pending['uuid']}/approve_by_consumer/"),
    )
    assert (
        parse(m.OrderDetails, provider.get(f"marketplace-orders/{pending['uuid']}/"))["state"]
        == "pending-provider"
    )
    empty(bob.post(f"marketplace-orders/{pending['uuid']}/cancel/"))
    canceled = parse(m.OrderDetails, provider.get(f"marketplace-orders/{pending['uuid']}/"))
    assert canceled["state"] == "canceled"
    states = {o["state"] for o in parse(m.OrderDetails, staff.get("marketplace-orders/"))}
    assert states == {"rejected", "executing", "canceled"}


def test_offering_user_transitions(staff, provider, info):
    place(staff, info)
    offering = info["offerings"][0]["uuid"]
    users = {
        u["user_username"]: u
        for u in provider.get("marketplace-offering-users/", offering_uuid=offering).json()
    }
    alice, bob = users["alice"]["uuid"], users["bob"]["uuid"]
    base = "marketplace-offering-users/"
    empty(provider.post(f"{base}{alice}/begin_creating/"))
    patched = parse(
        m.OfferingUser, provider.send("PATCH", f"{base}{alice}/", {"username": "alice01"})
    )
    assert (patched["state"], patched["username"]) == ("OK", "alice01")
    wrong = provider.post(f"{base}{alice}/begin_creating/")
    assert wrong.status_code == 400
    assert wrong.json() == {
        "detail": "Cannot transition to CREATING from current state: 5. "
        "Valid states for operation: Requested, Error creating."
    }
    empty(provider.post(f"{base}{bob}/begin_creating/"))
    empty(
        provider.post(
            f"{base}{bob}/set_pending_account_linking/",
            {"comment": "link your account", "comment_url": None},
        )
    )
    linked = parse(m.OfferingUser, provider.get(f"{base}{bob}/"))
    assert linked["state"] == "Pending account linking"
    assert linked["service_provider_comment"] == "link your account"
    empty(provider.post(f"{base}{bob}/set_pending_additional_validation/", {"comment": "id"}))
    empty(provider.post(f"{base}{bob}/set_validation_complete/"))
    assert parse(m.OfferingUser, provider.get(f"{base}{bob}/"))["state"] == "OK"
    filtered = parse(m.OfferingUser, provider.get(base, state="OK", offering_uuid=offering))
    assert len(filtered) == 2
    bad = provider.get(base, state="Bogus")
    assert bad.status_code == 400 and "state" in bad.json()
    user_uuid = users["alice"]["user_uuid"]
    one = parse(m.OfferingUser, provider.get(base, user_uuid=user_uuid, offering_uuid=offering))
    assert [u["username"] for u in one] == ["alice01"]
    team = parse(
        m.ProjectUser,
        provider.get(
            f"marketplace-provider-resources/{provider.get('marketplace-provider-resources/').json()[0]['uuid']}/team/"
        ),
    )
    assert {t["offering_user_username"] for t in team} == {"alice01", None}
    carol = staff.get("users/", username="carol").json()[0]
    body = {"offering": info["offerings"][0]["url"], "user": carol["url"], "username": "carol"}
    assert parse(m.OfferingUser, provider.post(base, body), 201)["username"] == "carol"


def test_offering_users_show_the_profile_the_offering_exposes(sim, staff, provider, info):
    place(staff, info)
    offering = info["offerings"][0]["uuid"]
    profile = {
        "gender": "female",
        "personal_title": "Dr",
        "birth_date": "1984-03-09",
        "country_of_residence": "PT",
        "organization_type": "urn:schac:homeOrganizationType:int:university",
    }
    with sim.state.lock:
        alice = sim.state.first("users", username="alice")
        sim.state.put("users", {**alice, **profile})
        sim.state.commit()

    def alice_sees():
        users = parse(m.OfferingUser, provider.get("marketplace-offering-users/"))
        return next(u for u in users if u["user_username"] == "alice")

    hidden = alice_sees()
    assert all(not hidden[f"user_{k}"] for k in profile), "not exposed by default"
    with sim.state.lock:
        stored = sim.state.get("offerings", offering)
        stored["exposed_fields"] = ["username", "full_name", "email", *profile]
        sim.state.put("offerings", stored)
        sim.state.commit()
    config = parse(
        m.OfferingUserAttributeConfig,
        provider.get(f"marketplace-provider-offerings/{offering}/user-attribute-config/"),
    )
    assert config["expose_gender"] is True and config["is_default"] is False
    shown = alice_sees()
    assert {k: shown[f"user_{k}"] for k in profile} == profile


def test_usages_per_period_and_user(staff, provider, info):
    order = place(staff, info)
    resource = order["marketplace_resource_uuid"]
    rejected = provider.post(
        "marketplace-component-usages/set_usage/",
        {"resource": resource, "usages": [{"type": "cpu", "amount": "1.00"}]},
    )
    assert rejected.json() == {"resource": ["Resource is not in valid state."]}
    provider.post(f"marketplace-orders/{order['uuid']}/approve_by_provider/")
    provider.post(f"marketplace-orders/{order['uuid']}/set_state_done/")
    period = month_start()
    date = f"{period}T00:00:00+00:00"
    body = {
        "resource": resource,
        "date": date,
        "usages": [{"type": "cpu", "amount": "12.5"}, {"type": "gpu", "amount": "3.00"}],
    }
    empty(provider.post("marketplace-component-usages/set_usage/", body), 201)
    body["usages"][0]["amount"] = "15.25"
    empty(provider.post("marketplace-component-usages/set_usage/", body), 201)
    usages = parse(
        m.ComponentUsage,
        provider.get(
            "marketplace-component-usages/", resource_uuid=resource, billing_period=period
        ),
    )
    assert sorted((u["type"], u["usage"]) for u in usages) == [("cpu", "15.25"), ("gpu", "3.00")]
    assert {u["billing_period"] for u in usages} == {period}
    bad = provider.post(
        "marketplace-component-usages/set_usage/",
        {"resource": resource, "usages": [{"type": "ram", "amount": "1"}]},
    )
    assert bad.json() == {"non_field_errors": ["These components are invalid: ram."]}
    places = provider.post(
        "marketplace-component-usages/set_usage/",
        {"resource": resource, "usages": [{"type": "cpu", "amount": "1.234"}]},
    )
    assert places.status_code == 400
    cpu = next(u for u in usages if u["type"] == "cpu")["uuid"]
    users = provider.get("marketplace-offering-users/").json()
    empty(
        provider.post(
            f"marketplace-component-usages/{cpu}/set_user_usages/",
            {
                "usages": [
                    {
                        "username": "alice01",
                        "usage": "10.00",
                        "date": date,
                        "user": users[0]["url"],
                    },
                    {"username": "bob01", "usage": "5.25", "date": date},
                ]
            },
        ),
        201,
    )
    empty(
        provider.post(
            f"marketplace-component-usages/{cpu}/set_user_usage/",
            {"username": "bob01", "usage": "5.50"},
        ),
        201,
    )
    per_user = parse(
        m.ComponentUserUsage,
        provider.get(
            "marketplace-component-user-usages/",
            resource_uuid=resource,
            component_usage_billing_period=period,
        ),
    )
    assert sorted((u["username"], u["usage"]) for u in per_user) == [
        ("alice01", "10.00"),
        ("bob01", "5.50"),
    ]
    assert all(u["component_usage"].rstrip("/").endswith(cpu) for u in per_user)
    limit = parse(
        m.ComponentUserUsageLimit,
        staff.post(
            "component-user-usage-limits/",
            {
                "resource": resource,
                "offering_user": users[0]["url"],
                "component_type": "cpu",
                "limit": "50",
            },
        ),
        201,
    )
    assert limit["limit"] == "50.00"
    parse(
        m.ComponentUserUsageLimit,
        provider.get("component-user-usage-limits/", resource_uuid=resource),
    )


def test_agent_registry_and_event_queues(sim, provider, info, staff):
    offering = info["offerings"][0]["uuid"]
    body = {
        "offering": offering,
        "name": f"agent-{offering}",
        "version": "0.1",
        "dependencies": [{"package": "waldur-api-client", "version": "8.1.3"}],
    }
    identity = parse(
        m.AgentIdentity, provider.post("marketplace-site-agent-identities/", body), 201
    )
    found = parse(
        m.AgentIdentity,
        provider.get("marketplace-site-agent-identities/", name=f"agent-{offering}"),
    )
    assert [i["uuid"] for i in found] == [identity["uuid"]]
    base = f"marketplace-site-agent-identities/{identity['uuid']}/"
    parse(m.AgentIdentity, provider.send("PUT", base, body))
    service = parse(
        m.AgentService,
        provider.post(
            base + "register_service/", {"name": "order_process", "mode": "order_process"}
        ),
        201,
    )
    parse(m.AgentService, provider.post(base + "register_service/", {"name": "order_process"}))
    processor = {"name": "OfferingOrderProcessor", "backend_type": "slurm.SlurmBackend"}
    url = f"marketplace-site-agent-services/{service['uuid']}/register_processor/"
    parse(m.AgentProcessor, provider.post(url, processor), 201)
    parse(m.AgentProcessor, provider.post(url, processor), 200)
    parse(m.AgentIdentity, provider.get(base))
    entry = {"timestamp": 1.5, "level": "INFO", "message": "started", "module": "agent"}
    logs = parse(
        m.SiteAgentLog,
        provider.post(
            "marketplace-site-agent-logs/", [{**entry, "agent_identity_uuid": identity["uuid"]}]
        ),
        201,
    )
    assert (logs[0]["offering_uuid"], logs[0]["message"]) == (offering, "started")
    listed = parse(
        m.SiteAgentLog,
        provider.get("marketplace-site-agent-logs/", agent_identity_uuid=identity["uuid"]),
    )
    assert [row["uuid"] for row in listed] == [logs[0]["uuid"]]
    bad = provider.post(
        "marketplace-site-agent-logs/",
        [
            {**entry, "agent_identity_uuid": identity["uuid"]},
            {**entry, "agent_identity_uuid": "f" * 32, "level": "LOUD"},
        ],
    )
    assert bad.status_code == 400
    assert bad.json()[0] == {} and set(bad.json()[1]) == {"agent_identity_uuid", "level"}
    assert len(provider.get("marketplace-site-agent-logs/").json()) == 1, "nothing of a bad batch"
    provider.session.headers["User-Agent"] = "waldur-site-agent-event_process/1.0.7"
    provider.get("marketplace-orders/", offering_uuid=offering)
    statuses = parse(
        m.IntegrationStatusDetails,
        provider.get("marketplace-integration-statuses/", offering_uuid=offering),
    )
    assert [(s["agent_type"], s["status"]) for s in statuses] == [("Event processing", "Active")]
    subscription = parse(
        m.EventSubscription,
        provider.post(base + "register_event_subscription/", {"observable_object_type": "order"}),
        201,
    )
    parse(
        m.EventSubscription,
        provider.post(base + "register_event_subscription/", {"observable_object_type": "order"}),
        200,
    )
    queue = parse(
        m.EventSubscriptionQueue,
        provider.post(
            f"event-subscriptions/{subscription['uuid']}/create_queue/",
            {"offering_uuid": offering, "object_type": "order"},
        ),
        201,
    )
    assert queue["queue_name"] == f"subscription_{subscription['uuid']}_offering_{offering}_order"
    assert queue["vhost"] == subscription["user_uuid"]
    parse(m.EventSubscription, provider.get(f"event-subscriptions/{subscription['uuid']}/"))
    unified = parse(
        m.AgentQueueRegistrationResponse,
        provider.post(base + "register_queue/", {"object_types": ["order", "user_role"]}),
    )
    order = place(staff, info)
    messages = sim.outbox
    legacy = [x for x in messages if x["queue"] == queue["queue_name"]]
    assert legacy[-1]["payload"] == {"order_uuid": order["uuid"], "order_state": "pending-provider"}
    enveloped = [x for x in messages if x["queue"] == unified["queue_name"]]
    assert {x["object_type"] for x in enveloped} == {"order"}
    assert enveloped[-1]["payload"]["object_type"] == "order"
    assert (
        provider.send("DELETE", f"event-subscriptions/{subscription['uuid']}/").status_code == 204
    )
    assert provider.get(f"event-subscriptions/{subscription['uuid']}/").status_code == 404
    bad = provider.post(base + "register_event_subscription/", {"observable_object_type": "nope"})
    assert bad.status_code == 400


def test_catalog_and_accounts(staff, provider, info, sim):
    offering = info["offerings"][0]["uuid"]
    parse(m.UserMe, provider.get("users/me/"))
    assert parse(m.UserMe, provider.get("users/me/", field="uuid")).keys() == {"uuid"}
    parse(m.Version, provider.get("version/"))
    details = parse(
        m.ProviderOfferingDetails, provider.get(f"marketplace-provider-offerings/{offering}/")
    )
    assert details["type"] == "Marketplace.Slurm"
    assert {c["type"] for c in details["components"]} == {"cpu", "mem", "gpu"}
    parse(m.PublicOfferingDetails, staff.get(f"marketplace-public-offerings/{offering}/"))
    parse(
        m.OfferingUserAttributeConfig,
        provider.get(f"marketplace-provider-offerings/{offering}/user-attribute-config/"),
    )
    place(staff, info)
    project = info["projects"][0]["url"]
    parse(
        m.ProjectServiceAccount,
        staff.post(
            "marketplace-project-service-accounts/", {"project": project, "username": "svc-bot"}
        ),
        201,
    )
    parse(m.CourseAccount, staff.post("marketplace-course-accounts/", {"project": project}), 201)
    parse(
        m.ProjectServiceAccount,
        provider.get(f"marketplace-provider-offerings/{offering}/list_project_service_accounts/"),
    )
    accounts = parse(
        m.CourseAccount,
        provider.get(f"marketplace-provider-offerings/{offering}/list_course_accounts/"),
    )
    closed = parse(
        m.CourseAccount,
        staff.send("DELETE", f"marketplace-course-accounts/{accounts[0]['uuid']}/"),
        202,
    )
    assert closed["state"] == "Closed"
    parse(m.CourseAccount, staff.get("marketplace-course-accounts/"))
    parse(m.ProjectServiceAccount, staff.get("marketplace-project-service-accounts/"))
    kinds = [e["object_type"] for e in sim.emitted]
    assert {"service_account", "course_account"} <= set(kinds)
    request = parse(
        m.BackendResourceReq,
        provider.post("backend-resource-requests/", {"offering": offering}),
        201,
    )
    parse(m.Status, provider.post(f"backend-resource-requests/{request['uuid']}/start_processing/"))
    parse(m.Status, provider.post(f"backend-resource-requests/{request['uuid']}/set_done/"))
    parse(m.BackendResourceReq, provider.get(f"backend-resource-requests/{request['uuid']}/"))
    listed = parse(
        m.BackendResourceReq,
        provider.get("backend-resource-requests/", offering_uuid=offering, state="Done"),
    )
    assert [r["uuid"] for r in listed] == [request["uuid"]]
    failing = provider.post("backend-resource-requests/", {"offering": offering}).json()
    parse(m.Status, provider.post(f"backend-resource-requests/{failing['uuid']}/start_processing/"))
    parse(
        m.Status,
        provider.post(
            f"backend-resource-requests/{failing['uuid']}/set_erred/", {"error_message": "x"}
        ),
    )
    parse(
        m.BackendResource,
        provider.post(
            "backend-resources/",
            {
                "name": "legacy",
                "project": info["projects"][0]["uuid"],
                "offering": offering,
                "backend_id": "old_acc",
            },
        ),
        201,
    )
    parse(m.BackendResource, provider.get("backend-resources/", backend_id="old_acc"))
    parse(m.Project, staff.get("projects/"))
    parse(m.Customer, staff.get("customers/"))
    parse(m.User, staff.get("users/"))
    parse(m.ProviderPlanDetails, provider.get("marketplace-plans/"))
    assert parse(m.RemoteEduteamsUUID, staff.post("remote-eduteams/", {"cuid": "alice"}))["uuid"]
    sps = parse(m.ServiceProvider, provider.get("marketplace-service-providers/"))
    parse(m.ServiceProvider, provider.get(f"marketplace-service-providers/{sps[0]['uuid']}/"))


def test_events_on_roles_flags_and_usernames(sim, staff, provider, info):
    order = place(staff, info)
    alice = staff.get("users/", username="alice").json()[0]
    carol = staff.get("users/", username="carol").json()[0]
    project = info["projects"][0]
    assert (
        staff.post(
            f"projects/{project['uuid']}/add_user/",
            {"user": carol["url"], "role": "PROJECT.MEMBER"},
        ).status_code
        == 201
    )
    staff.post(f"projects/{project['uuid']}/delete_user/", {"user": alice["uuid"]})
    roles = [e["payload"] for e in sim.emitted if e["object_type"] == "user_role"]
    assert [(r["user_username"], r["granted"]) for r in roles] == [
        ("carol", True),
        ("alice", False),
    ]
    assert roles[0]["role_name"] == "PROJECT.MEMBER"
    resource = order["marketplace_resource_uuid"]
    parse(m.Status, staff.post(f"marketplace-resources/{resource}/set_paused/", {"paused": True}))
    flags = [e["payload"] for e in sim.emitted if e["object_type"] == "resource"]
    assert flags[-1]["paused"] is True
    for collection in ("marketplace-resources", "marketplace-provider-resources"):
        for flag in ("downscaled", "paused", "restrict_member_access"):
            body = {flag: False}
            parse(m.Status, staff.post(f"{collection}/{resource}/set_{flag}/", body))
    parse(m.Resource, staff.get(f"marketplace-resources/{resource}/"))
    parse(m.ProjectUser, staff.get(f"marketplace-resources/{resource}/team/"))
    owner = {"user": carol["url"], "role": "CUSTOMER.OWNER"}
    parse(
        m.UserRoleExpirationTime,
        staff.post(f"customers/{staff.get('customers/').json()[0]['uuid']}/add_user/", owner),
        201,
    )
    other = staff.get("customers/").json()[0]
    moved = staff.post(f"projects/{project['uuid']}/move_project/", {"customer": other["url"]})
    assert parse(m.Project, moved)["customer_uuid"] == other["uuid"]
    assert sim.emitted[-1]["object_type"] == "resource"
    assert sim.emitted[-1]["payload"]["resource_uuid"] == resource
    ou = provider.get("marketplace-offering-users/", user_uuid=carol["uuid"]).json()[0]
    provider.send("PATCH", f"marketplace-offering-users/{ou['uuid']}/", {"username": "carol9"})
    named = [e["payload"] for e in sim.emitted if e["object_type"] == "offering_user"]
    assert named[-1]["action"] == "username_set" and named[-1]["username"] == "carol9"


@pytest.mark.parametrize("dashed", [True, False])
def test_uuids_with_or_without_dashes(provider, info, dashed):
    import uuid

    raw = info["offerings"][0]["uuid"]
    value = str(uuid.UUID(raw)) if dashed else raw
    assert provider.get(f"marketplace-provider-offerings/{value}/").status_code == 200
    listed = provider.get("marketplace-orders/", offering_uuid=value)
    assert listed.status_code == 200


def test_server_side_events_and_usage_limits(sim, staff, provider, info):
    order = place(staff, info)
    resource = order["marketplace_resource_uuid"]
    policy = sim.trigger_periodic_limits(resource, {"fairshare": 10, "limits": {"cpu": 5}})
    periodic = sim.emitted[-1]
    assert periodic["object_type"] == "resource_periodic_limits"
    assert periodic["payload"]["policy_uuid"] == policy
    assert periodic["payload"]["action"] == "apply_periodic_settings"
    answer = provider.post(
        f"marketplace-slurm-periodic-usage-policies/{policy}/report-command-result/",
        {"resource_uuid": resource, "success": True, "commands_executed": ["sacctmgr ..."]},
    )
    assert answer.status_code == 200
    assert sim.objects("command_results")[0]["success"] is True
    sim.request_offering_sync(info["offerings"][0]["uuid"])
    assert sim.emitted[-1]["object_type"] == "offering_resources_sync"
    sim.resync_user_roles(info["projects"][0]["uuid"], resource)
    assert sim.emitted[-1]["payload"]["resource_uuid"] == resource

    offering = info["offerings"][0]["uuid"]
    component = {
        "type": "storage",
        "name": "Storage",
        "billing_type": "usage",
        "limit_period": "month",
        "limit_amount": 10,
    }
    created = provider.post(
        f"marketplace-provider-offerings/{offering}/create_offering_component/", component
    )
    assert created.status_code == 201
    provider.post(f"marketplace-orders/{order['uuid']}/approve_by_provider/")
    provider.post(f"marketplace-orders/{order['uuid']}/set_state_done/")
    over = provider.post(
        "marketplace-component-usages/set_usage/",
        {"resource": resource, "usages": [{"type": "storage", "amount": "10.50"}]},
    )
    assert over.json() == {
        "non_field_errors": ["Total amount exceeds limit. Total amount: 10.50, limit: 10."]
    }
    past = provider.post(
        "marketplace-component-usages/set_usage/",
        {
            "resource": resource,
            "date": "2020-01-01T00:00:00+00:00",
            "usages": [{"type": "cpu", "amount": "1"}],
        },
    )
    assert past.status_code == 400 and "backfilling past billing periods" in past.text
    assert (
        staff.post(
            "marketplace-component-usages/set_usage/",
            {
                "resource": resource,
                "date": "2020-01-01T00:00:00+00:00",
                "usages": [{"type": "cpu", "amount": "1"}],
            },
        ).status_code
        == 201
    )


def test_offering_components_keep_every_setting_as_mastermind_does(provider, info):
    """Bodies built by the client's request models; what Mastermind's serializer changes or
    refuses, changed or refused."""
    import uuid

    base = f"marketplace-provider-offerings/{info['offerings'][0]['uuid']}/"

    def shown():
        details = parse(m.ProviderOfferingDetails, provider.get(base))
        return {c["type"]: m.OfferingComponent.from_dict(c) for c in details["components"]}

    settings = {
        "description": "Project storage",
        "measured_unit": "TB",
        "limit_period": m.LimitPeriodEnum.QUARTERLY,
        "limit_amount": 40,
        "article_code": "ART-7",
        "max_value": 500,
        "min_value": 2,
        "max_available_limit": 400,
        "default_limit": 50,
        "is_prepaid": True,
        "min_prepaid_duration": 3,
        "max_prepaid_duration": 24,
        "prepaid_duration_step": 3,
        "min_renewal_duration": 6,
        "max_renewal_duration": 36,
        "renewal_duration_step": 6,
    }
    limit = m.BillingTypeEnum.LIMIT
    named = {"billing_type": limit, "type_": "storage", "name": "Storage"}
    new = m.OfferingComponentRequest(**named, **settings)
    empty(provider.post(f"{base}create_offering_component/", new.to_dict()), 201)
    storage = shown()["storage"]
    assert {key: getattr(storage, key) for key in settings} == settings
    again = provider.post(f"{base}create_offering_component/", new.to_dict())
    assert (again.status_code, again.json()) == (400, ["Component storage already exists."])

    def update(**changes):
        request = m.UpdateOfferingComponentRequest(uuid=uuid.UUID(str(storage.uuid)), **named)
        return provider.post(f"{base}update_offering_component/", {**request.to_dict(), **changes})

    empty(update(renewal_duration_step=12, is_boolean=True))  # a checkbox: 0..1 a month
    checkbox = shown()["storage"]
    assert (checkbox.renewal_duration_step, checkbox.article_code) == (12, "ART-7")
    assert (checkbox.min_value, checkbox.max_value, checkbox.limit_amount) == (0, 1, None)
    assert checkbox.limit_period == m.LimitPeriodEnum.MONTH
    backwards = update(min_renewal_duration=9, max_renewal_duration=3)
    assert backwards.json() == {
        "min_renewal_duration": ["Minimum renewal duration must not exceed the maximum."]
    }
    refused = update(is_prepaid=False, min_prepaid_duration=1)
    assert refused.json() == {
        "min_prepaid_duration": ["This field can only be set on prepaid components."]
    }
    unnamed = provider.post(f"{base}update_offering_component/", {"name": "x"})
    assert unnamed.json() == {"details": "UUID for offering component was not provided."}
    unknown = {"uuid": uuid.uuid4().hex, "name": "x"}
    empty(provider.post(f"{base}update_offering_component/", unknown), 404)


def test_resource_api_keys(sim, staff, provider, info, user_api):
    order = place(staff, info)
    resource = order["marketplace_resource_uuid"]
    provider.post(f"marketplace-orders/{order['uuid']}/approve_by_provider/")
    provider.post(f"marketplace-orders/{order['uuid']}/set_state_done/")
    alice = user_api("alice")
    key = parse(
        m.ResourceApiKeyStatus,
        alice.post("marketplace-resource-api-keys/", {"resource": resource}),
        201,
    )
    assert (key["state"], key["pending_action"]) == ("Creating", "create")
    waiting = parse(
        m.ResourceApiKeyStatus,
        provider.get("marketplace-resource-api-keys/", resource_uuid=resource, state="Creating"),
    )
    assert [k["uuid"] for k in waiting] == [key["uuid"]]
    base = f"marketplace-resource-api-keys/{key['uuid']}/"
    issued = parse(m.ResourceApiKeyStatus, provider.post(base + "set_key/", {"api_key": "s3cr3t"}))
    assert (issued["state"], issued["pending_action"]) == ("OK", "")
    parse(m.Status, alice.post(base + "rotate/"), 202)
    rotating = parse(m.ResourceApiKeyStatus, alice.get(base))
    assert rotating["state"] == "Updating"
    event = sim.emitted[-1]
    assert event["object_type"] == "resource_api_key_rotation"
    assert event["payload"]["api_key_uuid"] == key["uuid"]
    failed = parse(
        m.ResourceApiKeyStatus, provider.post(base + "set_erred/", {"error_message": "x"})
    )
    assert failed["state"] == "Erred"
    reported = parse(
        m.ResourceApiKeyStatus,
        provider.post(
            "marketplace-resource-api-keys/report_created/",
            {"resource": resource, "client_id": "c1", "api_key": "k1"},
        ),
        201,
    )
    assert reported["client_id"] == "c1"
    answer = staff.post(f"marketplace-resources/{resource}/terminate/").json()
    provider.post(f"marketplace-orders/{answer['order_uuid']}/approve_by_provider/")
    provider.post(f"marketplace-orders/{answer['order_uuid']}/set_state_done/")
    assert provider.get("marketplace-resource-api-keys/").json() == []


def test_restore_order(staff, provider, info):
    order = place(staff, info)
    resource = order["marketplace_resource_uuid"]
    refused = staff.post(f"marketplace-resources/{resource}/restore/")
    assert refused.json() == {"detail": "Valid states for operation: Terminated."}
    for uuid in (order["uuid"], None):
        if uuid is None:
            uuid = parse(m.OrderUUID, staff.post(f"marketplace-resources/{resource}/terminate/"))[
                "order_uuid"
            ]
        provider.post(f"marketplace-orders/{uuid}/approve_by_provider/")
        provider.post(f"marketplace-orders/{uuid}/set_state_done/")
    answer = parse(m.OrderUUID, staff.post(f"marketplace-resources/{resource}/restore/"))
    restore = parse(m.OrderDetails, provider.get(f"marketplace-orders/{answer['order_uuid']}/"))
    assert (restore["type"], restore["state"]) == ("Restore", "pending-provider")
    assert (
        parse(m.Resource, provider.get(f"marketplace-provider-resources/{resource}/"))["state"]
        == "Creating"
    )
    provider.post(f"marketplace-orders/{restore['uuid']}/approve_by_provider/")
    empty(provider.post(f"marketplace-orders/{restore['uuid']}/set_state_done/"))
    assert (
        parse(m.Resource, provider.get(f"marketplace-provider-resources/{resource}/"))["state"]
        == "OK"
    )
    types = {o["type"] for o in parse(m.OrderDetails, provider.get("marketplace-orders/"))}
    assert types == {"Create", "Terminate", "Restore"}


def test_start_dates_and_reannounced_orders(sim, staff, provider, info):
    body = {
        "offering": info["offerings"][0]["url"],
        "project": info["projects"][0]["url"],
        "start_date": "2999-01-01",
    }
    later = parse(m.OrderDetails, staff.post("marketplace-orders/", body), 201)
    answer = parse(
        m.OrderInfoResponse,
        provider.post(f"marketplace-orders/{later['uuid']}/approve_by_provider/"),
    )
    assert answer == {"detail": "Order is pending start date."}
    assert provider.get(f"marketplace-orders/{later['uuid']}/").json()["state"] == (
        "pending-start-date"
    )
    waiting = place(staff, info)
    sim.emitted.clear()
    sim.tick()
    assert sim.emitted == []  # nothing is an hour old yet
    sim.state.clock_offset = timedelta(days=365 * 1000)
    sim.tick()
    events = [(e["payload"]["order_uuid"], e["payload"]["order_state"]) for e in sim.emitted]
    assert (later["uuid"], "executing") in events
    assert (waiting["uuid"], "pending-provider") in events
    sim.emitted.clear()
    sim.tick()
    assert [e["payload"]["order_uuid"] for e in sim.emitted] == []


def test_consumer_side_bodies(staff, info, user_api):
    customer = parse(m.Customer, staff.post("customers/", {"name": "New Lab"}), 201)
    project = parse(
        m.Project, staff.post("projects/", {"customer": customer["url"], "name": "P9"}), 201
    )
    user = parse(m.User, staff.post("users/", {"username": "erin", "email": "e@x.org"}), 201)
    erin = user_api("erin")
    parse(m.UserMe, erin.get("users/me/"))
    added = staff.post(
        f"projects/{project['uuid']}/add_user/", {"user": user["uuid"], "role": "PROJECT.ADMIN"}
    )
    parse(m.UserRoleExpirationTime, added, 201)
    members = parse(m.UserRoleDetails, staff.get(f"projects/{project['uuid']}/list_users/"))
    assert [r["user_username"] for r in members] == ["erin"]
    parse(m.Project, erin.get(f"projects/{project['uuid']}/"))
    key = parse(
        m.SshKey, erin.post("keys/", {"name": "k", "public_key": "ssh-ed25519 AAAAC3Nz erin"}), 201
    )
    assert [k["uuid"] for k in parse(m.SshKey, erin.get("keys/"))] == [key["uuid"]]
    parse(m.Customer, staff.get(f"customers/{customer['uuid']}/"))
    parse(m.User, staff.get(f"users/{user['uuid']}/"))
    parse(m.ProviderOfferingDetails, staff.get("marketplace-provider-offerings/"))
    parse(m.PublicOfferingDetails, staff.get("marketplace-public-offerings/"))


AGENT_READS = {  # waldur-api.md §2: the keys the agent reads, present in every full body
    "marketplace-orders/": """uuid type state resource_name marketplace_resource_uuid limits
        attributes plan_uuid backend_id project_uuid customer_uuid offering_uuid project_name
        created modified error_message""",
    "marketplace-provider-resources/": """uuid name slug backend_id state limits attributes
        plan_uuid project_uuid project_slug project_name project_description project_end_date
        customer_uuid customer_slug customer_name offering_uuid offering_backend_id
        offering_plugin_options restrict_member_access paused downscaled backend_metadata
        end_date""",
    "marketplace-offering-users/": """uuid user_uuid username state user_full_name user_email
        user_username offering_uuid url""",
    "marketplace-component-usages/": "uuid type usage billing_period resource_uuid date",
    "marketplace-component-user-usages/": "component_usage username component_type usage",
}


def test_bodies_hold_every_key_the_agent_reads(staff, provider, info):
    order = place(staff, info)
    provider.post(f"marketplace-orders/{order['uuid']}/approve_by_provider/")
    provider.post(f"marketplace-orders/{order['uuid']}/set_state_done/")
    resource = order["marketplace_resource_uuid"]
    provider.post(
        "marketplace-component-usages/set_usage/",
        {"resource": resource, "usages": [{"type": "cpu", "amount": "1"}]},
    )
    usage = provider.get("marketplace-component-usages/").json()[0]["uuid"]
    provider.post(
        f"marketplace-component-usages/{usage}/set_user_usage/", {"username": "a", "usage": "1"}
    )
    for path, keys in AGENT_READS.items():
        rows = provider.get(path).json()
        assert rows, path
        missing = set(keys.split()) - set(rows[0])
        assert not missing, (path, missing)
    offering = provider.get(
        f"marketplace-provider-offerings/{info['offerings'][0]['uuid']}/"
    ).json()
    assert {"components", "customer_uuid", "partitions", "plugin_options"} <= set(offering)
    assert {"type", "billing_type", "measured_unit", "unit_factor", "limit_amount"} <= set(
        offering["components"][0]
    )


def test_federation_bodies(staff, provider, info, sim):
    """What the federation plugin reads and sends on both Waldurs: the identity bridge, end
    dates (with who changed them and when), effective ids, the consented team, project PATCH."""
    pushed = parse(
        m.IdentityBridgeResult,
        staff.post(
            "identity-bridge/",
            {"username": "cuid-1@idp", "source": "isd:x", "first_name": "Ada", "email": "a@x.org"},
        ),
    )
    assert pushed["created"] is True
    again = parse(
        m.IdentityBridgeResult,
        staff.post("identity-bridge/", {"username": "cuid-1@idp", "source": "isd:x"}),
    )
    assert (again["uuid"], again["created"]) == (pushed["uuid"], False)
    refused = staff.post(
        "identity-bridge/", {"username": "cuid-1@idp", "source": "isd:x", "civil_number": "1"}
    )
    assert refused.status_code == 400, refused.text
    assert (
        provider.post("identity-bridge/", {"username": "x", "source": "isd:x"}).status_code == 403
    )
    allowed = parse(m.IdentityBridgeAllowedFields, staff.get("identity-bridge/allowed-fields/"))
    assert "civil_number" not in allowed["allowed_fields"]
    removed = parse(
        m.IdentityBridgeRemoveResult,
        staff.post("identity-bridge/remove/", {"username": "cuid-1@idp", "source": "isd:x"}),
    )
    assert removed["deactivated"] is True

    order = place(staff, info)
    uuid = order["marketplace_resource_uuid"]
    parse(
        m.Status,
        provider.post(
            f"marketplace-provider-resources/{uuid}/set_effective_id/", {"effective_id": "acc_42"}
        ),
    )
    consumer = staff.post(f"marketplace-resources/{uuid}/set_end_date/", {"end_date": "2031-01-31"})
    assert consumer.status_code == 200, consumer.text
    body = parse(m.Resource, provider.get(f"marketplace-provider-resources/{uuid}/"))
    assert (body["effective_id"], body["end_date"]) == ("acc_42", "2031-01-31")
    assert body["end_date_updated_at"] and body["end_date_requested_by"]
    wrong = provider.post(f"marketplace-provider-resources/{uuid}/set_end_date/", {"end_date": "x"})
    assert wrong.status_code == 400
    project = info["projects"][0]["uuid"]
    patched = parse(
        m.Project, staff.send("PATCH", f"projects/{project}/", {"end_date": "2032-01-01"})
    )
    assert patched["end_date"] == "2032-01-01" and patched["end_date_updated_at"]
    # a provider does not see its consumers' projects there (only through its own listing)
    assert provider.send("PATCH", f"projects/{project}/", {"end_date": None}).status_code == 404
    team = parse(m.ProjectUser, provider.get(f"marketplace-provider-resources/{uuid}/team/"))
    consented = provider.get(f"marketplace-provider-resources/{uuid}/team/", has_consent="true")
    assert len(parse(m.ProjectUser, consented)) == len(team)
    with sim.state.lock:
        for offering_user in sim.state.all("offering_users"):
            offering_user["has_consent"] = False
    assert (
        provider.get(f"marketplace-provider-resources/{uuid}/team/", has_consent="true").json()
        == []
    )
    users = parse(m.OfferingUser, provider.get("marketplace-offering-users/"))
    assert users and not any(u["has_consent"] for u in users)


def test_roles_are_found_by_name_and_name_a_role_by_uuid(staff, info):
    """Upstream's federation plugin looks a role's UUID up by name and grants it by UUID."""
    (manager,) = parse(m.RoleDetails, staff.get("roles/", name="PROJECT.MANAGER"))
    assert len(parse(m.RoleDetails, staff.get("roles/"))) == 3
    project = info["projects"][0]
    carol = staff.get("users/", username="carol").json()[0]
    granted = staff.post(
        f"projects/{project['uuid']}/add_user/", {"user": carol["uuid"], "role": manager["uuid"]}
    )
    assert granted.status_code == 201, granted.text
    members = parse(m.UserRoleDetails, staff.get(f"projects/{project['uuid']}/list_users/"))
    assert ("carol", "PROJECT.MANAGER") in {(u["user_username"], u["role_name"]) for u in members}
    revoked = staff.post(
        f"projects/{project['uuid']}/delete_user/", {"user": carol["uuid"], "role": manager["uuid"]}
    )
    assert revoked.status_code == 200, revoked.text


WALKS = (
    test_create_order_walk_as_the_agent_does,
    test_resource_options_change_directly_or_through_an_update_order,
    test_update_and_terminate_orders_couple_with_the_resource,
    test_reject_erred_and_consumer_states,
    test_offering_user_transitions,
    test_usages_per_period_and_user,
    test_agent_registry_and_event_queues,
    test_catalog_and_accounts,
    test_events_on_roles_flags_and_usernames,
    test_server_side_events_and_usage_limits,
    test_resource_api_keys,
    test_restore_order,
    test_start_dates_and_reannounced_orders,
    test_consumer_side_bodies,
    test_federation_bodies,
    test_roles_are_found_by_name_and_name_a_role_by_uuid,
)
NOT_WALKED = {  # routes the agent never calls; their bodies are still checked when served
    "GET /api/event-subscription-queues/",
    "GET /api/event-subscriptions/",
    "GET /api/marketplace-site-agent-processors/",
    "GET /api/marketplace-site-agent-services/",
}


def test_the_walks_reach_every_route_with_a_declared_body():
    seen, routes = set(), set()
    for walk in WALKS:
        with WaldurSimulator() as sim:
            bodies = Bodies(sim)
            fixtures = {
                "sim": sim,
                "info": sim.summary(),
                "staff": Api(sim, sim.staff_token),
                "provider": Api(sim, sim.provider_token),
                "user_api": lambda name, sim=sim: Api(sim, sim.token(name)),
            }
            walk(**{name: fixtures[name] for name in inspect.signature(walk).parameters})
            assert bodies.mismatches() == [], walk.__name__
            seen |= bodies.routes()
            routes = {
                key
                for key in sim.app.router.templates()
                if any(model for model in ANSWERS.get(key, {}).values())
            }
    missing = sorted(routes - seen - NOT_WALKED)
    assert not missing, "\n".join(missing)
    assert routes - seen >= NOT_WALKED  # a walk that reaches one of them removes it from here
