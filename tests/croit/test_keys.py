"""S3 keys as Waldur resource API keys, through the agent service and RadosGW's Admin Ops
stand-in: two keys minted by the agent at creation, a rotation the team asks for carried out by
event (over a real RabbitMQ) or by the order sweep, and a soft delete that a restore undoes."""

import pytest

from tests.croit.conftest import COMPONENTS, GIB
from tests.croit.test_e2e import api_keys, scenario
from tests.e2e.harness import Agent, terminal, wait_for
from waldur_site_agent_actors.simulators.radosgw import RadosGWSimulator
from waldur_site_agent_actors.simulators.waldur import WaldurSimulator
from waldur_site_agent_actors.simulators.waldur.client import ConsumerClient


@pytest.fixture
def radosgw():
    with RadosGWSimulator() as simulator:
        yield simulator


def offering_config(sim, radosgw, backend_type="ceph_s3", **settings):
    return {
        "name": "rgw",
        "waldur_api_url": sim.api_url,
        "waldur_api_token": sim.provider_token,
        "waldur_offering_uuid": sim.summary()["offerings"][0]["uuid"],
        "backend_type": backend_type,
        "backend_settings": {
            "flavour": "radosgw",
            "s3_endpoint": radosgw.endpoint,
            "admin_access_key": radosgw.admin_access_key,
            "admin_secret_key": radosgw.admin_secret_key,
            "timeout": 5,
            **settings,
        },
        "backend_components": COMPONENTS,
    }


def created(sim, consumer, agent):
    summary = sim.summary()
    order = consumer.order(
        summary["offerings"][0]["url"],
        summary["projects"][0]["url"],
        attributes={"storage_limit": 5, "object_limit": 100},
    )
    done = wait_for(lambda: terminal(consumer, order["uuid"]), what="create", log=agent.log)
    assert done["state"] == "done", done
    return consumer.resource(done["marketplace_resource_uuid"])


def keys_in_sync(sim, radosgw, resource, count=2):
    """Waldur holds exactly the keys RadosGW has for the user, `count` of them, all OK."""
    rows = sim.objects("api_keys", resource=resource["uuid"])
    user = radosgw.state.user(resource["backend_id"])
    return (
        user is not None
        and len(rows) == count
        and {r["state"] for r in rows} == {"OK"}
        and api_keys(sim, resource["uuid"]) == sorted(user.keys)
        and rows
    )


def credentials_shown(sim, radosgw, resource, name):
    """What the resource's metadata in Waldur says of its keys, checked against the name: with
    `croit_s3` one of the keys Waldur holds, secret included, as upstream's `croit_s3` showed
    it; with `ceph_s3` nothing secret at all. The access key shown, or None."""
    metadata = sim.objects("resources", uuid=resource["uuid"])[0]["backend_metadata"]
    user = radosgw.state.user(resource["backend_id"])
    if name == "ceph_s3":
        assert "s3_credentials" not in metadata, metadata.keys()
        shown = repr(metadata)
        assert not [s for a, s in user.keys.items() if a in shown or s in shown]
        return None
    credentials = metadata.get("s3_credentials")
    if not credentials or credentials["access_key"] not in api_keys(sim, resource["uuid"]):
        return None
    assert credentials == {
        "access_key": credentials["access_key"],
        "secret_key": user.keys[credentials["access_key"]],
        "endpoint": radosgw.endpoint,
        "region": "default",
    }
    return credentials["access_key"]


def rotate(consumer, key_uuid):
    consumer._call("POST", f"marketplace-resource-api-keys/{key_uuid}/rotate/", {})


def restorable() -> dict:
    spec = scenario("usage")
    spec["offerings"][0]["plugin_options"]["can_restore_resource"] = True
    return spec


@pytest.mark.parametrize("name", ["ceph_s3", "croit_s3"])
def test_keys_are_minted_rotated_by_the_sweep_and_restored_after_a_soft_delete(
    tmp_path, radosgw, name
):
    with WaldurSimulator(restorable(), tick_interval=0) as sim:
        consumer = ConsumerClient(sim.api_url, sim.staff_token)
        config = offering_config(sim, radosgw, name, soft_delete=True)
        agent = Agent(tmp_path, [config]).start()  # polling: no event reaches it
        try:
            resource = created(sim, consumer, agent)
            user = radosgw.state.user(resource["backend_id"])
            assert (user.user_quota.max_size, user.user_quota.max_objects) == (5 * GIB, 100)
            rows = wait_for(lambda: keys_in_sync(sim, radosgw, resource), log=agent.log)
            if name == "croit_s3":  # republished once the keys were minted
                first = wait_for(
                    lambda: credentials_shown(sim, radosgw, resource, name),
                    what="s3_credentials in the metadata",
                    log=agent.log,
                )
                rows.sort(key=lambda row: row["client_id"] != first)  # rotate the one shown
            else:
                credentials_shown(sim, radosgw, resource, name)
            old, kept = rows[0]["client_id"], rows[1]["client_id"]
            secret_of_kept = user.keys[kept]

            rotate(consumer, rows[0]["uuid"])
            wait_for(
                lambda: (r := keys_in_sync(sim, radosgw, resource)) and old not in user.keys and r,
                what="the key rotated by the sweep",
                log=agent.log,
            )
            assert user.keys[kept] == secret_of_kept, "the other key was not touched"
            (rotated,) = sim.objects("api_keys", uuid=rows[0]["uuid"])
            assert rotated["client_id"] != old
            if name == "croit_s3":  # the metadata follows the rotation: never a key that is gone
                wait_for(
                    lambda: credentials_shown(sim, radosgw, resource, name) in user.keys,
                    what="s3_credentials after the rotation",
                    log=agent.log,
                )
            else:
                credentials_shown(sim, radosgw, resource, name)

            terminate = consumer.terminate(resource["uuid"])
            assert wait_for(lambda: terminal(consumer, terminate), log=agent.log)["state"] == "done"
            assert user.keys == {} and radosgw.state.user(resource["backend_id"]) is user
            metadata = sim.objects("resources", uuid=resource["uuid"])[0]["backend_metadata"]
            assert "s3_credentials" not in metadata, "a revoked key is still shown"
            answer = consumer._call(
                "POST", f"marketplace-resources/{resource['uuid']}/restore/", {}
            )
            restored = wait_for(lambda: terminal(consumer, answer["order_uuid"]), log=agent.log)
            assert restored["state"] == "done", restored
            wait_for(lambda: keys_in_sync(sim, radosgw, resource), what="new keys", log=agent.log)
            assert user.user_quota.max_size == 5 * GIB
        finally:
            consumer.close()
            assert agent.stop() == 0
        log = agent.log()
        assert radosgw.admin_secret_key not in log
        assert not [s for s in [*user.keys.values(), secret_of_kept] if s in log]


@pytest.mark.rabbitmq
def test_a_rotation_is_carried_out_at_once_by_its_event(tmp_path, radosgw, rabbitmq):
    # A seed of its own: queues of the shared broker left by another run never reach it.
    spec = {**scenario("usage"), "seed": "api-key-rotation-events"}
    with WaldurSimulator(spec, broker=rabbitmq.broker, tick_interval=0) as sim:
        consumer = ConsumerClient(sim.api_url, sim.staff_token)
        config = {**offering_config(sim, radosgw), **rabbitmq.offering_stomp}
        # Sweeps once an hour: what happens within seconds was done by an event.
        agent = Agent(
            tmp_path, [config], order_process_period_minutes=60, reconciliation_period_minutes=60
        ).start("-m", "event_process")
        try:
            wait_for(lambda: "listening on" in agent.log(), what="the queue", log=agent.log)
            resource = created(sim, consumer, agent)
            rows = wait_for(lambda: keys_in_sync(sim, radosgw, resource), log=agent.log)
            old = rows[1]["client_id"]
            rotate(consumer, rows[1]["uuid"])
            wait_for(
                lambda: (
                    keys_in_sync(sim, radosgw, resource)
                    and old not in radosgw.state.user(resource["backend_id"]).keys
                ),
                timeout=15,
                what="the key rotated by its event",
                log=agent.log,
            )
        finally:
            consumer.close()
            assert agent.stop() == 0
            rabbitmq.forget(sim)
