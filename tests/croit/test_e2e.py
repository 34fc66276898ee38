"""The Croit S3 plugin through the agent service: a real `waldur-site-agent run` process between
the Waldur simulator and the Croit simulator, checked on both sides."""

import time
from datetime import UTC, datetime

import pytest

from tests.croit.conftest import COMPONENTS, GIB
from tests.e2e.harness import Agent, terminal, wait_for
from waldur_site_agent_actors.backends.croit_s3.naming import s3_user_name
from waldur_site_agent_actors.backends.structures import WaldurResource
from waldur_site_agent_actors.simulators.croit import CroitSimulator, QuotaExceeded
from waldur_site_agent_actors.simulators.waldur import WaldurSimulator
from waldur_site_agent_actors.simulators.waldur import seed as seeds
from waldur_site_agent_actors.simulators.waldur.client import ConsumerClient

DAY = 86400


def scenario(storage_billing: str) -> dict:
    spec = seeds.default_scenario()
    spec["offerings"] = [
        {
            "name": "Croit S3 Object Storage",
            "customer": "HPC Centre",
            "type": "Marketplace.Slurm",
            "plugin_options": {"create_orders_on_resource_option_change": True},
            "components": [
                {
                    "type": "s3_storage",
                    "name": "S3 storage",
                    "billing_type": storage_billing,
                    "measured_unit": "GB",
                },
                {
                    "type": "s3_objects",
                    "name": "S3 objects",
                    "billing_type": "usage",
                    "measured_unit": "objects",
                },
            ],
            "plans": [{"name": "Standard", "quotas": {}, "prices": {"s3_storage": "0.02"}}],
        }
    ]
    return spec


@pytest.fixture
def croit():
    with CroitSimulator() as simulator:
        yield simulator


def start(tmp_path, storage_billing="usage", components=COMPONENTS, **offering):
    sim = WaldurSimulator(scenario(storage_billing), tick_interval=0).start()
    consumer = ConsumerClient(sim.api_url, sim.staff_token)
    summary = sim.summary()
    config = {
        "name": "croit",
        "waldur_api_url": sim.api_url,
        "waldur_api_token": sim.provider_token,
        "waldur_offering_uuid": summary["offerings"][0]["uuid"],
        "backend_type": "croit_s3",
        "backend_components": components,
        **offering,
    }
    return sim, consumer, summary, config


def s3_user(consumer, resource_uuid):
    r = consumer.resource(resource_uuid)
    resource = WaldurResource(
        uuid=r["uuid"], customer_slug=r["customer_slug"], project_slug=r["project_slug"]
    )
    return s3_user_name(resource, "waldur_", "_", 64)


def api_keys(sim, resource_uuid):
    """The access keys Waldur holds for the resource (it keeps no secret the test could read)."""
    return sorted(k["client_id"] for k in sim.objects("api_keys", resource=resource_uuid))


def usages(consumer, resource_uuid):
    rows = consumer._call("GET", "marketplace-component-usages/", resource_uuid=resource_uuid)
    return {row["type"]: float(row["usage"]) for row in rows}


def test_lifecycle_usage_and_metadata_through_the_service(tmp_path, croit):
    sim, consumer, summary, config = start(tmp_path)
    settings = {"api_url": croit.api_url, "token": croit.token, "timeout": 5}
    agent = Agent(tmp_path, [{**config, "backend_settings": settings}]).start()
    try:
        offering, project = summary["offerings"][0], summary["projects"][0]
        order = consumer.order(
            offering["url"],
            project["url"],
            attributes={"storage_limit": 5, "object_limit": 100},
            name="climate data",
        )
        done = wait_for(lambda: terminal(consumer, order["uuid"]), what="create", log=agent.log)
        assert done["state"] == "done", done
        resource_uuid = done["marketplace_resource_uuid"]
        uid = s3_user(consumer, resource_uuid)
        assert uid == f"waldur_university_climate_modelling_{resource_uuid[:8]}"
        resource = consumer.resource(resource_uuid)
        assert resource["backend_id"] == uid

        # One S3 user with the safety limits as quotas, and two keys, Waldur's API keys (the
        # one RadosGW made with the user through Croit is gone); where to connect as metadata.
        user = croit.state.user(uid)
        assert user.name == "climate data"
        assert (user.user_quota.max_size, user.user_quota.max_objects) == (5 * GIB, 100)
        assert sorted(user.keys) == api_keys(sim, resource_uuid)
        assert len(user.keys) == 2
        secrets = list(user.keys.values())
        metadata = resource["backend_metadata"]
        assert (metadata["s3_endpoint"], metadata["s3_user"]) == (croit.api_url, uid)
        # `croit_s3` also shows the first key in the metadata, as upstream's croit_s3 did.
        first = next(iter(user.keys))
        assert metadata["s3_credentials"] == {
            "access_key": first,
            "secret_key": user.keys[first],
            "endpoint": croit.api_url,
            "region": "default",
        }
        assert resource["endpoints"][0]["url"] == croit.api_url

        # Usage grows as the tenant writes; the storage summary follows.
        croit.state.put_object(uid, "results", "run-1.nc", 2 * GIB)
        croit.state.put_object(uid, "results", "run-2.nc", GIB)
        croit.state.put_object(uid, "logs", "run.log", 4096)
        wait_for(
            lambda: usages(consumer, resource_uuid) == {"s3_storage": 3.0, "s3_objects": 3.0},
            what="usage in Waldur units",
            log=agent.log,
        )
        wait_for(
            lambda: (
                consumer.resource(resource_uuid)["backend_metadata"]["storage_summary"][
                    "total_objects"
                ]
                == 3
            ),
            what="the storage summary in Waldur",
            log=agent.log,
        )
        summary_now = consumer.resource(resource_uuid)["backend_metadata"]["storage_summary"]
        assert summary_now["total_size_bytes"] == 3 * GIB + 4096
        assert {b["name"] for b in summary_now["buckets"]} == {"results", "logs"}
        with pytest.raises(QuotaExceeded):
            croit.state.put_object(uid, "results", "run-3.nc", 3 * GIB)

        # Deleting objects lowers the usage: storage is a snapshot, not a counter.
        croit.state.delete_object(uid, "results", "run-1.nc")
        wait_for(
            lambda: usages(consumer, resource_uuid)["s3_storage"] == 1.0,
            what="lower usage",
            log=agent.log,
        )

        # The customer raises the safety limits on the resource: an Update order (the offering
        # has create_orders_on_resource_option_change) whose new options become the quotas.
        change = consumer.update_options(resource_uuid, {"storage_limit": 8, "object_limit": 500})
        assert change is not None
        changed = wait_for(lambda: terminal(consumer, change), what="option change", log=agent.log)
        assert changed["state"] == "done", changed
        user = croit.state.user(uid)
        assert (user.user_quota.max_size, user.user_quota.max_objects) == (8 * GIB, 500)
        assert consumer.resource(resource_uuid)["options"] == {
            "storage_limit": 8,
            "object_limit": 500,
        }
        croit.state.put_object(uid, "results", "run-3.nc", 3 * GIB)

        terminate = consumer.terminate(resource_uuid)
        finished = wait_for(lambda: terminal(consumer, terminate), what="terminate", log=agent.log)
        assert finished["state"] == "done"
        assert croit.state.user(uid) is None
        gone = consumer.resource(resource_uuid)
        assert gone["state"] == "Terminated"
        assert gone["backend_metadata"] == {}, "the deleted user's key is still shown"
    finally:
        assert agent.stop() == 0
        consumer.close()
        sim.stop()
    log = agent.log()
    assert not [secret for secret in secrets if secret in log]
    assert croit.token not in log


def test_limit_based_storage_is_updated_and_reported_in_gb_days(tmp_path, croit):
    """`ceph_s3` for orders and membership, `croit_usage` for the report, as upstream wires it."""
    storage = {**COMPONENTS["s3_storage"], "accounting_type": "limit"}
    components = {**COMPONENTS, "s3_storage": storage}
    sim, consumer, summary, config = start(
        tmp_path,
        storage_billing="limit",
        components=components,
        backend_type="ceph_s3",
        reporting_backend="croit_usage",
    )
    settings = {"api_url": croit.api_url, "username": "admin", "password": croit.password}
    agent = Agent(tmp_path, [{**config, "backend_settings": settings}]).start()
    try:
        offering, project = summary["offerings"][0], summary["projects"][1]
        order = consumer.order(offering["url"], project["url"], {"s3_storage": 10})
        done = wait_for(lambda: terminal(consumer, order["uuid"]), what="create", log=agent.log)
        assert done["state"] == "done", done
        resource_uuid = done["marketplace_resource_uuid"]
        uid = s3_user(consumer, resource_uuid)
        assert croit.state.user(uid).user_quota.max_size == 10 * GIB
        # `ceph_s3`: the keys are only Waldur's API keys, the metadata shows none of them.
        keys = croit.state.user(uid).keys
        assert sorted(keys) == api_keys(sim, resource_uuid) and len(keys) == 2
        metadata = repr(consumer.resource(resource_uuid)["backend_metadata"])
        assert "s3_credentials" not in metadata and "s3_user" in metadata
        assert not [k for k in [*keys, *keys.values()] if k in metadata]

        update = consumer.update_limits(resource_uuid, {"s3_storage": 20})
        updated = wait_for(lambda: terminal(consumer, update), what="update", log=agent.log)
        assert updated["state"] == "done", updated
        assert croit.state.user(uid).user_quota.max_size == 20 * GIB
        assert croit.state.user(uid).bucket_quota.max_size == 20 * GIB
        assert consumer.resource(resource_uuid)["limits"] == {"s3_storage": 20}

        # 4 GiB held for the last 12 hours (within this month): 2 GB-days, and 1 object.
        now = time.time()
        month = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        written = max(now - DAY / 2, month.timestamp())
        croit.state.user(uid).created = written - 3600
        croit.state.put_object(uid, "data", "blob", 4 * GIB, at=written)
        expected = 4 * (now - written) / DAY
        wait_for(
            lambda: abs(usages(consumer, resource_uuid).get("s3_storage", 0) - expected) < 0.05,
            what=f"about {expected:.2f} GB-days in Waldur",
            log=agent.log,
        )
        assert usages(consumer, resource_uuid)["s3_objects"] == 1.0
    finally:
        assert agent.stop() == 0
        consumer.close()
        sim.stop()
    assert croit.password not in agent.log()
    assert not [secret for secret in keys.values() if secret in agent.log()]


def test_someone_elses_user_is_skipped_and_croit_refusals_err_the_order(tmp_path, croit):
    sim, consumer, summary, config = start(tmp_path)
    settings = {"api_url": croit.api_url, "token": croit.token, "timeout": 5}
    offering, projects = summary["offerings"][0], summary["projects"]
    attributes = {"storage_limit": 1, "object_limit": 10}
    # Someone else's S3 user already has the name the first order's resource would get.
    taken = consumer.order(offering["url"], projects[0]["url"], attributes=attributes)
    uid = s3_user(consumer, taken["marketplace_resource_uuid"])
    croit.state.create_user(uid, "not Waldur's", email="someone@example.org")
    agent = Agent(tmp_path, [{**config, "backend_settings": settings}]).start()
    try:
        first = wait_for(lambda: terminal(consumer, taken["uuid"]), what="done", log=agent.log)
        assert first["state"] == "done", first
        resource = consumer.resource(taken["marketplace_resource_uuid"])
        assert resource["backend_id"] == f"{uid}-2"
        assert croit.state.user(uid).name == "not Waldur's"

        # RGW refuses the next user (each time: the runtime may try a failed order twice).
        croit.fail("POST", "/api/s3/users", 500, "RGW: no space left in the metadata pool", times=5)
        refused = consumer.order(offering["url"], projects[1]["url"], attributes=attributes)
        second = wait_for(lambda: terminal(consumer, refused["uuid"]), what="erred", log=agent.log)
        assert second["state"] == "erred"
        assert "RGW: no space left in the metadata pool" in second["error_message"]
        assert "POST /s3/users" in second["error_message"]
        assert set(croit.state.users) == {uid, f"{uid}-2"}
    finally:
        assert agent.stop() == 0
        consumer.close()
        sim.stop()


def test_a_rejected_token_errs_the_order_and_stays_secret(tmp_path, croit):
    sim, consumer, summary, config = start(tmp_path)
    settings = {"api_url": croit.api_url, "token": "stale-session-token-0123", "timeout": 5}
    agent = Agent(tmp_path, [{**config, "backend_settings": settings}]).start()
    try:
        offering, project = summary["offerings"][0], summary["projects"][0]
        order = consumer.order(offering["url"], project["url"], attributes={"storage_limit": 1})
        erred = wait_for(lambda: terminal(consumer, order["uuid"]), what="erred", log=agent.log)
        assert erred["state"] == "erred"
        assert "Croit rejected the API token" in erred["error_message"]
        assert "stale-session-token" not in erred["error_message"]
    finally:
        assert agent.stop() == 0
        consumer.close()
        sim.stop()
    assert "stale-session-token" not in agent.log()
