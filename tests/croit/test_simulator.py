"""The Croit simulator's wire formats, pinned: what the `ceph_s3` backend is written against."""

import pytest
import requests

from waldur_site_agent_actors.simulators.croit import CroitSimulator, QuotaExceeded

UNLIMITED_QUOTA = {
    "enabled": False,
    "maxSize": -1,
    "maxObjects": -1,
    "max_size_kb": -1,
    "max_objects": -1,
}


class Api:
    def __init__(self, sim: CroitSimulator, **auth):
        self.sim = sim
        self.session = requests.Session()
        if "basic" in auth:
            self.session.auth = auth["basic"]
        else:
            self.session.headers["Authorization"] = f"Bearer {auth.get('token', sim.token)}"

    def __call__(self, method, path, **kwargs):
        return self.session.request(method, self.sim.api_url + path, timeout=5, **kwargs)


@pytest.fixture
def clock():
    now = [1_700_000_000.0]
    return now


@pytest.fixture
def sim(clock):
    with CroitSimulator(clock=lambda: clock[0]) as simulator:
        yield simulator


@pytest.fixture
def api(sim):
    return Api(sim)


def create(api, uid="alice", **extra):
    response = api("POST", "/api/s3/users", json={"uid": uid, "name": "Alice", **extra})
    assert response.status_code == 204, response.text
    assert response.content == b""


def test_requests_without_valid_credentials_are_401(sim):
    anonymous = requests.get(sim.api_url + "/api/s3/users", timeout=5)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    assert "message" in anonymous.json()
    assert Api(sim, token="wrong")("GET", "/api/s3/users").status_code == 401
    assert Api(sim, basic=("admin", "wrong"))("GET", "/api/s3/users").status_code == 401
    assert Api(sim, basic=("admin", sim.password))("GET", "/api/s3/users").status_code == 200
    assert Api(sim)("GET", "/api/s3/users").status_code == 200


def test_an_expired_token_is_refused(sim, api):
    sim.expire_token()
    assert api("GET", "/api/s3/users").status_code == 401


def test_created_user_is_listed_in_croit_shape_with_a_generated_key(api):
    create(api, email="owner@invalid", defaultPlacement="fast", defaultStorageClass="STANDARD")
    (user,) = api("GET", "/api/s3/users").json()
    assert user == {
        "uid": "alice",
        "name": "Alice",
        "email": "owner@invalid",
        "tenant": "",
        "subusers": [],
        "suspended": False,
        "userQuota": UNLIMITED_QUOTA,
        "bucketQuota": UNLIMITED_QUOTA,
        "defaultPlacement": "fast",
        "defaultStorageClass": "STANDARD",
    }
    (key,) = api("GET", "/api/s3/users/alice/keys").json()
    assert set(key) == {"user", "access_key", "secret_key"}
    assert key["user"] == "alice"
    assert len(key["access_key"]) == 20 and key["access_key"].isupper()
    assert len(key["secret_key"]) == 40
    assert api("GET", "/api/s3/users", params={"uid": "bob"}).json() == []


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"name": "No uid"}, 400, "uid"),
        ({"uid": "bad uid", "name": "x"}, 400, "uid"),
        ({"uid": "x"}, 400, "name"),
        ({"uid": "x", "name": "x", "colour": "red"}, 400, "colour"),
        ({"uid": "alice", "name": "Again"}, 409, "already exists"),
        ({"uid": "other", "name": "x", "email": "owner@invalid"}, 409, "in use"),
    ],
)
def test_invalid_or_conflicting_creates_are_refused(api, body, status, words):
    create(api, email="owner@invalid")
    response = api("POST", "/api/s3/users", json=body)
    assert response.status_code == status
    assert words in response.json()["message"]


def test_quota_sizes_are_stored_in_kib_and_read_back_rounded_up(api):
    create(api)
    body = {"enabled": True, "maxSize": 1000, "maxObjects": 5}
    assert api("PUT", "/api/s3/users/alice/bucket-quota", json=body).status_code == 204
    assert api("PUT", "/api/s3/users/alice/quota", json={"enabled": True}).status_code == 204
    (user,) = api("GET", "/api/s3/users").json()
    assert user["bucketQuota"] == {
        "enabled": True,
        "maxSize": 1024,
        "maxObjects": 5,
        "max_size_kb": 1,
        "max_objects": 5,
    }
    assert user["userQuota"] == {**UNLIMITED_QUOTA, "enabled": True}


@pytest.mark.parametrize(
    "body",
    [
        {"maxSize": 5},
        {"enabled": "yes"},
        {"enabled": True, "maxSize": -2},
        {"enabled": True, "x": 1},
    ],
)
def test_invalid_quota_bodies_are_400(api, body):
    create(api)
    assert api("PUT", "/api/s3/users/alice/quota", json=body).status_code == 400


def test_unknown_users_are_404(api):
    for method, path in [
        ("DELETE", "/api/s3/users/ghost"),
        ("GET", "/api/s3/users/ghost/keys"),
        ("GET", "/api/s3/users/ghost/buckets"),
        ("PUT", "/api/s3/users/ghost/quota"),
    ]:
        response = api(method, path, json={"enabled": False})
        assert response.status_code == 404, (method, path)
        assert "ghost" in response.json()["message"]


def test_bucket_usage_grows_with_writes_and_is_null_before_the_first(sim, api):
    create(api)
    sim.state.create_bucket("alice", "empty")
    sim.state.put_object("alice", "data", "a", 1000)
    sim.state.put_object("alice", "data", "b", 24)
    sim.state.put_object("alice", "data", "a", 500)  # overwrite: same object, new size
    buckets = {b["bucket"]: b for b in api("GET", "/api/s3/users/alice/buckets").json()}
    assert buckets["empty"]["usageSum"] is None
    assert buckets["data"]["usageSum"] == {"size": 524, "numObjects": 2}
    assert buckets["data"]["owner"] == "alice"
    assert buckets["data"]["quota"] == UNLIMITED_QUOTA
    sim.state.delete_object("alice", "data", "b")
    (data,) = [b for b in api("GET", "/api/s3/users/alice/buckets").json() if b["bucket"] == "data"]
    assert data["usageSum"] == {"size": 500, "numObjects": 1}


def test_writes_over_bucket_or_user_quota_are_refused(sim, api):
    create(api)
    api("PUT", "/api/s3/users/alice/bucket-quota", json={"enabled": True, "maxObjects": 2})
    api("PUT", "/api/s3/users/alice/quota", json={"enabled": True, "maxSize": 3 * 1024})
    sim.state.put_object("alice", "one", "a", 1024)
    sim.state.put_object("alice", "one", "b", 1024)
    with pytest.raises(QuotaExceeded, match="bucket quota"):
        sim.state.put_object("alice", "one", "c", 1)
    sim.state.put_object("alice", "two", "c", 1024)
    with pytest.raises(QuotaExceeded, match="user quota"):
        sim.state.put_object("alice", "two", "d", 1)
    # Lifting the quota lets the write through.
    api("PUT", "/api/s3/users/alice/quota", json={"enabled": False})
    sim.state.put_object("alice", "two", "d", 1)


def test_keys_are_added_with_the_secret_in_the_query_and_deleted(sim, api):
    create(api)
    access = "AKIAEXAMPLE000000001"
    response = api("PUT", f"/api/s3/users/alice/keys/{access}", params={"secretKey": "s" * 40})
    assert response.status_code == 204
    keys = {k["access_key"]: k["secret_key"] for k in api("GET", "/api/s3/users/alice/keys").json()}
    assert keys[access] == "s" * 40
    assert api("DELETE", f"/api/s3/users/alice/keys/{access}").status_code == 204
    absent = api("DELETE", f"/api/s3/users/alice/keys/{access}")
    assert absent.status_code == 500
    assert "unable to find access key" in absent.json()["message"]
    assert all("secretKey" not in path for _, path in sim.requests)


def test_deleting_a_user_purges_its_buckets(sim, api):
    create(api)
    sim.state.put_object("alice", "data", "a", 10)
    assert api("DELETE", "/api/s3/users/alice").status_code == 204
    assert api("GET", "/api/s3/users").json() == []
    assert api("GET", "/api/s3/users/alice/buckets").status_code == 404


def test_storage_graph_samples_stored_bytes_every_180_s(sim, api, clock):
    t0 = clock[0] - clock[0] % 180
    clock[0] = t0
    create(api)
    sim.state.put_object("alice", "data", "a", 1000, at=t0 + 200)
    clock[0] = t0 + 600
    params = {
        "graph": "s3-user-data",
        "template-s3-user-name": "alice",
        "startTime": int(t0 - 360),
        "endTime": 0,
        "maxDataPoints": 2000,
    }
    answer = api("GET", "/api/stats", params=params).json()
    (graph,) = answer["axis1"]["graphs"]
    points = [(p["t"], p["v"]) for p in graph["datapoints"]]
    assert points == [
        (t0 - 360, None),
        (t0 - 180, None),
        (t0, 0),
        (t0 + 180, 0),
        (t0 + 360, 1000),
        (t0 + 540, 1000),
    ]


def test_storage_graph_consolidates_by_averaging(sim, api, clock):
    t0 = clock[0] - clock[0] % 180
    clock[0] = t0
    create(api)
    sim.state.put_object("alice", "data", "a", 900, at=t0 + 1)
    clock[0] = t0 + 180 * 5
    params = {
        "graph": "s3-user-data",
        "template-s3-user-name": "alice",
        "startTime": int(t0 - 180),
        "endTime": int(t0 + 180 * 4),
        "maxDataPoints": 3,
    }
    (graph,) = api("GET", "/api/stats", params=params).json()["axis1"]["graphs"]
    # Six samples (None, 0, 900, 900, 900, 900) in three pairs.
    assert [(p["t"], p["v"]) for p in graph["datapoints"]] == [
        (t0 - 180, 0),
        (t0 + 180, 900),
        (t0 + 540, 900),
    ]


def test_stats_for_an_unknown_graph_is_404_and_an_unknown_user_has_no_series(sim, api):
    assert api("GET", "/api/stats", params={"graph": "nope"}).status_code == 404
    params = {"graph": "s3-user-data", "template-s3-user-name": "ghost"}
    assert api("GET", "/api/stats", params=params).json() == {
        "axis1": {"unit": "bytes", "graphs": []}
    }


def test_faults_answer_the_next_matching_requests_then_stop(sim, api):
    sim.fail("POST", "/api/s3/users", 500, "RGW is down", times=2)
    for _ in range(2):
        failed = api("POST", "/api/s3/users", json={"uid": "x", "name": "x"})
        assert (failed.status_code, failed.json()) == (500, {"message": "RGW is down"})
    create(api, "x")


def test_unknown_paths_and_methods(api):
    assert api("GET", "/api/nothing").status_code == 404
    assert api("PATCH", "/api/s3/users").status_code in (405, 501)
    assert api("POST", "/api/s3/users/alice/keys").status_code == 405
