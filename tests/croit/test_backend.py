"""The Croit S3 backend against the simulator: what ends up on Croit, and what Waldur is told."""

import logging

import pytest

from tests.croit.conftest import COMPONENTS, GIB, make_resource
from waldur_site_agent_actors.backends.croit_s3.backend import CroitS3Backend, owner_stamp
from waldur_site_agent_actors.backends.croit_s3.client import CroitError
from waldur_site_agent_actors.backends.exceptions import (
    BackendError,
    ConfigurationError,
    DuplicateResourceError,
)
from waldur_site_agent_actors.backends.structures import TOTAL_ACCOUNT_USAGE
from waldur_site_agent_actors.simulators.croit import QuotaExceeded

UID = "waldur_myorg_myproject_3f2a9c1e"


def create(backend, resource=None):
    resource = resource or make_resource()
    return backend.create_resource_with_id(resource, backend.resource_backend_id(resource))


def test_create_makes_one_stamped_user_with_key_quotas_and_metadata(croit, backend):
    info = create(backend)
    assert info.backend_id == UID
    user = croit.state.user(UID)
    assert user.name == "my S3 storage"
    assert user.email == owner_stamp(make_resource().uuid)
    for quota in (user.user_quota, user.bucket_quota):
        assert (quota.enabled, quota.max_size, quota.max_objects) == (True, 5 * GIB, 100)
    (access, secret), *_ = user.keys.items()
    assert info.backend_metadata["s3_credentials"] == {
        "access_key": access,
        "secret_key": secret,
        "endpoint": croit.api_url,
        "region": "default",
    }
    assert info.backend_metadata["storage_summary"] == {
        "bucket_count": 0,
        "total_size_bytes": 0,
        "total_objects": 0,
        "buckets": [],
    }
    assert info.backend_metadata["quotas"]["bucket_quota"] == {
        "enabled": True,
        "maxSize": 5 * GIB,
        "maxObjects": 100,
    }
    assert [(e.name, e.url) for e in info.endpoints] == [("S3", croit.api_url)]


def test_quotas_stop_writes_over_the_safety_limits(croit, backend):
    create(backend)
    croit.state.put_object(UID, "data", "big", 4 * GIB)
    with pytest.raises(QuotaExceeded):
        croit.state.put_object(UID, "other", "more", 2 * GIB)  # over the user's 5 GiB total


def test_quota_scope_bucket_leaves_the_users_total_open(croit, make_backend):
    create(make_backend(quota_scope="bucket"))
    assert croit.state.user(UID).bucket_quota.enabled
    assert not croit.state.user(UID).user_quota.enabled


def test_components_without_enforce_limits_get_no_quota(croit, make_backend):
    components = {k: {**c, "enforce_limits": False} for k, c in COMPONENTS.items()}
    create(make_backend(components))
    assert not croit.state.user(UID).user_quota.enabled


def test_upstream_attribute_names_and_user_settings_are_honoured(croit, make_backend):
    backend = make_backend(
        default_placement="fast-placement",
        default_storage_class="COLD",
        s3_endpoint="https://s3.example.org",
        s3_region="eu-1",
    )
    resource = make_resource(attributes={"max_storage_limit": 2, "max_object_limit": 7})
    info = create(backend, resource)
    user = croit.state.user(UID)
    assert (user.user_quota.max_size, user.user_quota.max_objects) == (2 * GIB, 7)
    assert (user.default_placement, user.default_storage_class) == ("fast-placement", "COLD")
    credentials = info.backend_metadata["s3_credentials"]
    assert (credentials["endpoint"], credentials["region"]) == ("https://s3.example.org", "eu-1")


def test_limit_based_storage_uses_the_resource_limit_as_its_ceiling(croit, make_backend):
    components = {
        **COMPONENTS,
        "s3_storage": {**COMPONENTS["s3_storage"], "accounting_type": "limit"},
    }
    backend = make_backend(components)
    info = create(backend, make_resource(limits={"s3_storage": 10}, attributes={}))
    assert info.limits == {"s3_storage": 10 * GIB}
    assert backend.collect_limits(make_resource(limits={"s3_storage": 10})) == (
        {"s3_storage": 10 * GIB},
        {"s3_storage": 10.0},
    )
    assert croit.state.user(UID).user_quota.max_size == 10 * GIB
    assert croit.state.user(UID).user_quota.max_objects == -1


def test_update_changes_only_the_ceilings_it_names(croit, backend):
    create(backend)
    backend.set_resource_limits(UID, {"s3_storage": 20, "unknown": 1})
    user = croit.state.user(UID)
    for quota in (user.user_quota, user.bucket_quota):
        assert (quota.max_size, quota.max_objects) == (20 * GIB, 100)
    backend.set_resource_limits(UID, {"s3_objects": 0})  # 0 lifts a ceiling
    assert (user.user_quota.max_size, user.user_quota.max_objects) == (20 * GIB, -1)


def test_invalid_safety_limits_fail_the_create_readably_and_leave_nothing(croit, backend):
    with pytest.raises(BackendError, match="storage_limit must be a number, got 'lots'"):
        create(backend, make_resource(attributes={"storage_limit": "lots"}))
    assert croit.state.user(UID) is None


def test_a_failed_step_after_the_user_was_made_deletes_it_again(croit, backend):
    croit.fail("PUT", "/api/s3/users/*/quota", 500, "RGW: cannot set quota")
    with pytest.raises(CroitError, match="RGW: cannot set quota"):
        create(backend)
    assert croit.state.user(UID) is None


def test_a_users_own_interrupted_create_is_completed(croit, backend):
    croit.state.create_user(UID, "half done", email=owner_stamp(make_resource().uuid))
    info = create(backend)
    assert croit.state.user(UID).user_quota.enabled
    assert info.backend_metadata["s3_credentials"]["access_key"]


def test_someone_elses_user_with_the_same_name_is_not_taken_over(croit, backend):
    croit.state.create_user(UID, "foreign", email="someone@example.org")
    with pytest.raises(DuplicateResourceError, match="not created for resource"):
        create(backend)
    assert croit.state.user(UID).name == "foreign"
    assert not croit.state.user(UID).user_quota.enabled


def test_a_user_without_keys_gets_one(make_backend):
    from waldur_site_agent_actors.simulators.croit import CroitSimulator

    with CroitSimulator(generate_keys=False) as sim:
        backend = CroitS3Backend({"api_url": sim.api_url, "token": sim.token}, COMPONENTS)
        info = create(backend)
        (access, secret), *_ = sim.state.user(UID).keys.items()
        assert len(access) == 20 and len(secret) == 40
        assert info.backend_metadata["s3_credentials"]["secret_key"] == secret


def test_usage_is_what_the_buckets_hold_now(croit, backend):
    create(backend)
    croit.state.put_object(UID, "a", "one", 2 * GIB)
    croit.state.put_object(UID, "b", "two", GIB + GIB // 2)
    croit.state.put_object(UID, "b", "three", 10)
    report = backend.get_usage_report([UID, "waldur_gone_user_00000000"])
    assert report == {UID: {TOTAL_ACCOUNT_USAGE: {"s3_storage": 4, "s3_objects": 3}}}
    croit.state.delete_object(UID, "a", "one")
    assert backend.get_usage_report([UID])[UID][TOTAL_ACCOUNT_USAGE] == {
        "s3_storage": 2,
        "s3_objects": 2,
    }
    assert backend.supports_decreasing_usage


def test_metadata_follows_the_buckets(croit, backend):
    create(backend)
    croit.state.put_object(UID, "photos", "a.jpg", 1000)
    croit.state.put_object(UID, "photos", "b.jpg", 24)
    croit.state.create_bucket(UID, "empty")
    summary = backend.get_resource_metadata(UID)["storage_summary"]
    assert summary == {
        "bucket_count": 2,
        "total_size_bytes": 1024,
        "total_objects": 2,
        "buckets": [
            {"name": "photos", "size_bytes": 1024, "objects": 2},
            {"name": "empty", "size_bytes": 0, "objects": 0},
        ],
    }
    assert backend.get_resource_metadata("nobody") == {}


def test_pull_sees_linked_users_but_never_for_a_resource_still_creating(croit, backend):
    create(backend)
    linked = make_resource(backend_id=UID, state="OK")
    assert backend.pull_resource(linked).backend_id == UID
    assert backend.pull_resource(make_resource(backend_id=UID)) is None  # Creating
    assert backend.pull_resource(make_resource(backend_id="missing", state="OK")) is None
    assert backend.add_users_to_resource(UID, {"alice"}) == set()
    backend.set_resource_user_limits(UID, "alice", {"s3_storage": 1})
    assert croit.state.user(UID).user_quota.max_size == 5 * GIB
    assert [r.name for r in backend.list_resources()] == [UID]


def test_terminate_deletes_the_user_and_its_buckets_and_tolerates_its_absence(croit, backend):
    create(backend)
    croit.state.put_object(UID, "data", "x", 10)
    backend.delete_resource(make_resource(backend_id=UID, state="Terminating"))
    assert croit.state.user(UID) is None
    backend.delete_resource(make_resource(backend_id=UID, state="Terminating"))


def test_nothing_secret_is_logged(croit, backend, caplog):
    caplog.set_level(logging.DEBUG)
    info = create(backend)
    backend.get_resource_metadata(UID)
    backend.diagnostics()
    assert info.backend_metadata["s3_credentials"]["secret_key"] not in caplog.text
    assert croit.token not in caplog.text


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"api_url": "http://croit"}, "either token, or username and password"),
        ({"api_url": "http://croit", "token": "t", "password": "p"}, "either token"),
        ({"api_url": "http://croit", "username": "u"}, "go together"),
        ({"api_url": "croit", "token": "t"}, "api_url: expected an http(s) URL"),
        (
            {"api_url": "http://c", "token": "t", "user_prefix": "a", "allocation_prefix": "b"},
            "one",
        ),
        ({"api_url": "http://c", "token": "t", "user_prefix": "Bad!"}, "user_prefix"),
        ({"api_url": "http://c", "token": "t", "tiemout": 5}, "tiemout"),
    ],
)
def test_unusable_settings_are_configuration_errors(settings, words):
    with pytest.raises(ConfigurationError, match="Croit S3 settings") as caught:
        CroitS3Backend(settings, COMPONENTS)
    assert words in str(caught.value)


def test_a_component_without_its_metric_is_a_configuration_error():
    components = {"s3_storage": {**COMPONENTS["s3_storage"]}}
    del components["s3_storage"]["backend_name"]
    with pytest.raises(ConfigurationError, match="component s3_storage"):
        CroitS3Backend({"api_url": "http://c", "token": "t"}, components)
