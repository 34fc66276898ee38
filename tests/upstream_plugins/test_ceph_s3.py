"""Upstream's published Ceph S3 plugin (`waldur-site-agent-ceph-s3` 1.0.7, pinned) under this
agent: the two resource API keys it mints at provisioning reach Waldur and are live on the
gateway, and a rotation asked for in Waldur is carried out by its event (over the real RabbitMQ)
or, without events, by the order sweep. Against the RadosGW and Croit stand-ins."""

import hashlib
import subprocess
from urllib.request import Request, urlopen

import pytest

from tests.croit.conftest import COMPONENTS
from tests.croit.test_e2e import scenario
from tests.e2e.harness import Agent, terminal, wait_for
from waldur_site_agent_actors.backends.croit_s3 import sigv4
from waldur_site_agent_actors.simulators.croit import CroitSimulator
from waldur_site_agent_actors.simulators.radosgw import RadosGWSimulator
from waldur_site_agent_actors.simulators.waldur import WaldurSimulator
from waldur_site_agent_actors.simulators.waldur.client import ConsumerClient

pytestmark = pytest.mark.upstream

PIN = {"ceph_s3": "waldur-site-agent-ceph-s3"}
CHOSEN = (
    "'ceph_s3' (waldur_site_agent_ceph_s3.backend:CephS3Backend) from waldur-site-agent-ceph-s3"
)


def offering(sim, settings, **extra):
    return {
        "name": "upstream ceph",
        "waldur_api_url": sim.api_url,
        "waldur_api_token": sim.provider_token,
        "waldur_offering_uuid": sim.summary()["offerings"][0]["uuid"],
        "backend_type": "ceph_s3",
        "plugin_distributions": PIN,
        "backend_settings": {"timeout": 5, **settings},
        "backend_components": COMPONENTS,
        **extra,
    }


def radosgw_settings(rgw):
    return {
        "flavour": "radosgw",
        "s3_endpoint": rgw.endpoint,
        "admin_access_key": rgw.admin_access_key,
        "admin_secret_key": rgw.admin_secret_key,
    }


def created(sim, consumer, agent):
    summary = sim.summary()
    order = consumer.order(
        summary["offerings"][0]["url"],
        summary["projects"][0]["url"],
        attributes={"storage_limit": 5, "object_limit": 100},
    )
    done = wait_for(lambda: terminal(consumer, order["uuid"]), 60, "create", agent.log)
    assert done["state"] == "done", done
    return consumer.resource(done["marketplace_resource_uuid"])


def held(sim, gateway, resource):
    """The keys Waldur holds, when they are exactly the user's keys on the gateway, each with
    the secret the gateway has (Waldur's copy compared by digest), all OK; else None."""
    rows = sim.objects("api_keys", resource=resource["uuid"])
    user = gateway.state.user(resource["backend_id"])
    if user is None or len(rows) != 2 or {r["state"] for r in rows} != {"OK"}:
        return None
    if sorted(r["client_id"] for r in rows) != sorted(user.keys):
        return None
    digests = {r["client_id"]: r.get("secret_sha256") for r in rows}
    secrets = {a: hashlib.sha256(s.encode()).hexdigest() for a, s in user.keys.items()}
    return rows if digests == secrets else None


def authenticated(rgw, access_key, secret_key):
    """RadosGW's answer to a request signed with the key: `AccessDenied` (the key is good, the
    tenant has no admin caps) or why the signature was refused."""
    url = f"{rgw.endpoint}/admin/info"
    headers = sigv4.sign("GET", url, b"", access_key, secret_key, "default")
    try:
        with urlopen(Request(url, headers=headers), timeout=5) as answer:
            return f"HTTP {answer.status}"
    except OSError as exc:
        return exc.read().decode() if hasattr(exc, "read") else str(exc)


def rotate(consumer, key_uuid):
    consumer._call("POST", f"marketplace-resource-api-keys/{key_uuid}/rotate/", {})


@pytest.mark.rabbitmq
def test_upstream_ceph_s3_keys_on_radosgw_are_rotated_by_their_event(tmp_path, python, rabbitmq):
    spec = {**scenario("usage"), "seed": "upstream-ceph-s3-key-events"}
    with (
        RadosGWSimulator() as rgw,
        WaldurSimulator(spec, broker=rabbitmq.broker, tick_interval=0) as sim,
    ):
        consumer = ConsumerClient(sim.api_url, sim.staff_token)
        config = offering(sim, radosgw_settings(rgw), **rabbitmq.offering_stomp)
        # Sweeps once an hour: what happens within seconds was done by an event.
        agent = Agent(
            tmp_path, [config], order_process_period_minutes=60, reconciliation_period_minutes=60
        ).start("-m", "event_process", python=python)
        try:
            wait_for(lambda: "listening on" in agent.log(), 60, "the queue", agent.log)
            resource = created(sim, consumer, agent)
            rows = wait_for(lambda: held(sim, rgw, resource), 30, "keys in Waldur", agent.log)
            user = rgw.state.user(resource["backend_id"])
            for access_key, secret in user.keys.items():
                assert "AccessDenied" in authenticated(rgw, access_key, secret)
            assert "SignatureDoesNotMatch" in authenticated(rgw, rows[0]["client_id"], "x" * 40)
            metadata = repr(consumer.resource(resource["uuid"])["backend_metadata"])
            assert not [s for s in user.keys.values() if s in metadata]

            old, kept = rows[1]["client_id"], rows[0]["client_id"]
            secret_of_kept = user.keys[kept]
            rotate(consumer, rows[1]["uuid"])
            wait_for(
                lambda: held(sim, rgw, resource) and old not in user.keys,
                timeout=15,
                what="the key rotated by its event",
                log=agent.log,
            )
            assert user.keys[kept] == secret_of_kept, "the other key was not touched"
            (rotated,) = sim.objects("api_keys", uuid=rows[1]["uuid"])
            assert "AccessDenied" in authenticated(
                rgw, rotated["client_id"], user.keys[rotated["client_id"]]
            )
        finally:
            consumer.close()
            assert agent.stop() == 0
            rabbitmq.forget(sim)
        log = agent.log()
        assert CHOSEN in log
        assert rgw.admin_secret_key not in log
        assert not [s for s in [*user.keys.values(), secret_of_kept] if s in log]


def test_upstream_ceph_s3_keys_on_croit_are_rotated_by_the_sweep(tmp_path, python):
    with (
        CroitSimulator() as croit,
        WaldurSimulator(scenario("usage"), tick_interval=0) as sim,
    ):
        consumer = ConsumerClient(sim.api_url, sim.staff_token)
        settings = {"api_url": croit.api_url, "token": croit.token, "s3_endpoint": croit.api_url}
        agent = Agent(tmp_path, [offering(sim, settings)]).start(python=python)  # polling
        try:
            resource = created(sim, consumer, agent)
            # Croit made a key with the user; upstream's plugin removed it: only Waldur's two.
            rows = wait_for(lambda: held(sim, croit, resource), 30, "keys in Waldur", agent.log)
            user = croit.state.user(resource["backend_id"])
            old, kept = rows[0]["client_id"], rows[1]["client_id"]
            secret_of_kept = user.keys[kept]
            rotate(consumer, rows[0]["uuid"])
            wait_for(
                lambda: held(sim, croit, resource) and old not in user.keys,
                timeout=60,
                what="the key rotated by the sweep",
                log=agent.log,
            )
            assert user.keys[kept] == secret_of_kept, "the other key was not touched"
        finally:
            consumer.close()
            assert agent.stop() == 0
        log = agent.log()
        assert CHOSEN in log
        assert croit.token not in log
        assert not [s for s in [*user.keys.values(), secret_of_kept] if s in log]


KEY_FAILURE = """
from waldur_site_agent_actors.actors.failure import waldur_error
from waldur_site_agent_actors.actors.upstream.backend import UpstreamBackend
from waldur_site_agent_actors.actors.upstream.convert import Translator
from waldur_site_agent_actors.backends.exceptions import BackendError


class Broken:  # an upstream plugin's key hook, the rest of the plugin left out
    def generate_resource_keys(self, resource_backend_id, count=2):
        raise KeyError("internal-detail-xyz")


adapter = UpstreamBackend(Broken(), None, None, Translator("https://waldur.example.org/api/"))
try:
    adapter.generate_resource_key("a1")
except BackendError as exc:
    print(waldur_error(exc, False)[0])
    print(waldur_error(exc, True)[1].count("internal-detail-xyz"))
"""


def test_an_internal_error_of_an_upstream_key_hook_stays_out_of_waldur_unless_exposed(python):
    """Upstream's core sends an internal error's words (a plugin's KeyError) to Waldur only with
    `expose_backend_error_details`; the adapter's BackendError for it says which operation
    failed, and the words travel in the traceback that exposing sends."""
    run = subprocess.run([python, "-c", KEY_FAILURE], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    hidden, exposed = run.stdout.splitlines()
    assert hidden == "minting a key failed (KeyError)", run.stdout
    assert int(exposed) >= 1, run.stdout
