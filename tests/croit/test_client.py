"""The Croit client against the simulator: auth, errors in Croit's words, timeouts, TLS."""

import logging
import socket
import time

import pytest

from tests.tls import self_signed
from waldur_site_agent_actors.backends.croit_s3.client import CroitClient
from waldur_site_agent_actors.backends.croit_s3.errors import AdminError, Conflict, NotFound
from waldur_site_agent_actors.backends.exceptions import BackendNotReadyError
from waldur_site_agent_actors.simulators.croit import CroitSimulator


def client_for(sim, **options):
    options.setdefault("token", sim.token)
    options.setdefault("timeout", 5)
    return CroitClient(sim.api_url, **options)


def test_bearer_token_and_basic_credentials_are_accepted(croit):
    assert client_for(croit).users() == []
    basic = client_for(croit, token="", username=croit.username, password=croit.password)
    assert basic.users() == []


def test_a_rejected_token_says_so_without_showing_it(croit):
    croit.expire_token()
    with pytest.raises(AdminError) as caught:
        client_for(croit).users()
    assert caught.value.status == 401
    assert "rejected the API token" in str(caught.value)
    assert "expired" in str(caught.value)
    assert croit.token not in str(caught.value)


def test_a_rejected_password_names_the_user_not_the_password(croit):
    wrong = client_for(croit, token="", username="admin", password="not-the-password")
    with pytest.raises(AdminError, match="password of user 'admin'") as caught:
        wrong.users()
    assert "not-the-password" not in str(caught.value)


def test_croit_errors_keep_croits_message_and_status(croit):
    client = client_for(croit)
    client.create_user({"uid": "u1", "name": "One"})
    with pytest.raises(Conflict, match=r"POST /s3/users with 409: S3 user u1 already exists"):
        client.create_user({"uid": "u1", "name": "Again"})
    with pytest.raises(NotFound, match="ghost"):
        client.delete_user("ghost")
    croit.fail("PUT", "/api/s3/users/u1/quota", 500, "RGW: quota update failed")
    with pytest.raises(AdminError, match="with 500: RGW: quota update failed"):
        client.set_quota("u1", "user", {"enabled": True})


def test_user_lookup_filters_the_list_and_keys_and_buckets_are_read(croit):
    client = client_for(croit)
    client.create_user({"uid": "u1", "name": "One"})
    client.create_user({"uid": "u2", "name": "Two"})
    assert client.user("u2")["name"] == "Two"
    assert client.user("nobody") is None
    client.add_key("u1", "AKIAEXAMPLE000000001", "s" * 40)
    assert "AKIAEXAMPLE000000001" in {k["access_key"] for k in client.keys("u1")}
    croit.state.create_bucket("u1", "fresh")
    croit.state.put_object("u1", "data", "x", 2048)
    assert sorted(client.buckets("u1")) == [("data", 2048, 1), ("fresh", 0, 0)]


def test_idempotent_requests_are_retried_on_503_but_creates_are_not(croit):
    client = client_for(croit)
    croit.fail("GET", "/api/s3/users", 503, "busy", times=2)
    assert client.users() == []
    croit.fail("POST", "/api/s3/users", 503, "busy")
    with pytest.raises(AdminError, match="503"):
        client.create_user({"uid": "u1", "name": "One"})


def test_an_unanswered_request_is_transient_and_bounded_by_the_timeout(croit):
    croit.fail("GET", "/api/s3/users", status=0, delay=2.0)
    started = time.monotonic()
    with pytest.raises(BackendNotReadyError, match=r"did not answer GET /s3/users within 0.3 s"):
        client_for(croit, timeout=0.3).users()
    assert time.monotonic() - started < 1.5


def test_an_unreachable_croit_is_transient():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = CroitClient(f"http://127.0.0.1:{port}", token="t", timeout=1, retries=0)
    with pytest.raises(BackendNotReadyError, match="cannot connect to Croit"):
        client.users()


def test_secret_keys_stay_out_of_logs_and_errors(croit, caplog):
    caplog.set_level(logging.DEBUG)
    client = client_for(croit)
    client.create_user({"uid": "u1", "name": "One"})
    client.add_key("u1", "AKIAEXAMPLE000000001", "very-secret-key-0123456789")
    croit.fail("PUT", "/api/s3/users/u1/keys/*", 500, "key store unavailable")
    with pytest.raises(AdminError) as caught:
        client.add_key("u1", "AKIAEXAMPLE000000002", "another-secret-key-987654")
    assert "another-secret-key" not in str(caught.value)
    assert "PUT /s3/users/u1/keys/AKIAEXAMPLE000000002" in caplog.text
    assert "secret-key" not in caplog.text
    assert croit.token not in caplog.text


def test_storage_series_and_a_missing_graph(croit):
    client = client_for(croit)
    client.create_user({"uid": "u1", "name": "One"})
    now = int(time.time())
    series = client.storage_series("u1", now - 600, now)
    assert len(series) >= 3 and all(v in (None, 0) for _, v in series)
    croit.fail("GET", "/api/stats", 404, "graph not found")
    with pytest.raises(AdminError, match="no graph 's3-user-data'") as caught:
        client.storage_series("u1", now - 600, now)
    assert not isinstance(caught.value, NotFound)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return self_signed(tmp_path_factory.mktemp("tls"))


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_tls_verification_can_use_a_ca_bundle_or_be_turned_off(certificate):
    cert, key = certificate
    with CroitSimulator(certfile=cert, keyfile=key) as sim:
        assert sim.api_url.startswith("https://")
        with pytest.raises(AdminError, match="certificate is not trusted"):
            client_for(sim, retries=0).users()
        assert client_for(sim, verify=str(cert)).users() == []
        assert client_for(sim, verify=False).users() == []
