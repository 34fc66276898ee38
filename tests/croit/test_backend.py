"""The Ceph S3 backend against both stand-ins (Croit's API and RadosGW's Admin Ops): what ends
up on the cluster, and what Waldur is told, the same whichever flavour speaks to it."""

import logging

import pytest

from tests.croit.conftest import (
    COMPONENTS,
    GIB,
    backend_of,
    croit_gateway,
    make_resource,
    radosgw_gateway,
)
from waldur_site_agent_actors.backends.croit_s3.backend import (
    CroitS3Backend,
    CroitS3MetadataKeysBackend,
    owner_stamp,
)
from waldur_site_agent_actors.backends.croit_s3.errors import AdminError
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


def test_create_makes_one_stamped_user_with_quotas_no_key_and_metadata(s3, backend):
    info = create(backend)
    assert info.backend_id == UID
    user = s3.state.user(UID)
    assert user.name == "my S3 storage"
    assert user.email == owner_stamp(make_resource().uuid)
    for quota in (user.user_quota, user.bucket_quota):
        assert (quota.enabled, quota.max_size, quota.max_objects) == (True, 5 * GIB, 100)
    assert user.keys == {}, "no key Waldur does not hold: the core asks for the two it reports"
    metadata = info.backend_metadata
    assert (metadata["s3_endpoint"], metadata["s3_region"], metadata["s3_user"]) == (
        s3.endpoint,
        "default",
        UID,
    )
    assert metadata["storage_summary"] == {
        "bucket_count": 0,
        "total_size_bytes": 0,
        "total_objects": 0,
        "buckets": [],
    }
    assert metadata["quotas"]["bucket_quota"] == {
        "enabled": True,
        "maxSize": 5 * GIB,
        "maxObjects": 100,
    }
    assert [(e.name, e.url) for e in info.endpoints] == [("S3", s3.endpoint)]


def test_keys_are_minted_one_at_a_time_rotated_and_pruned(s3, backend):
    create(backend)
    first = backend.generate_resource_key(UID)
    second = backend.generate_resource_key(UID)
    keys = s3.state.user(UID).keys
    assert keys == {first["client_id"]: first["api_key"], second["client_id"]: second["api_key"]}
    assert len(first["client_id"]) == 20 and len(first["api_key"]) == 40

    orphan = backend.generate_resource_key(UID)  # minted, then its report to Waldur was lost
    rotated = backend.rotate_resource_key(
        first["client_id"], UID, [first["client_id"], second["client_id"]]
    )
    assert set(keys) == {second["client_id"], rotated["client_id"]}, "old and orphan gone"
    assert keys[rotated["client_id"]] == rotated["api_key"]
    assert orphan["client_id"] not in keys

    backend.generate_resource_key(UID)
    backend.prune_unknown_resource_keys(UID, [second["client_id"]])
    assert set(keys) == {second["client_id"]}
    # Rotating a key the backend lost already still ends with a live new one.
    again = backend.rotate_resource_key(rotated["client_id"], UID, None)
    assert set(keys) == {second["client_id"], again["client_id"]}


def test_keys_of_a_user_this_agent_did_not_make_are_left_alone(s3, backend):
    s3.state.create_user("someone", "Someone", email="someone@example.org")
    before = dict(s3.state.user("someone").keys)
    with pytest.raises(BackendError, match="not created by Waldur"):
        backend.generate_resource_key("someone")
    with pytest.raises(BackendError, match="not created by Waldur"):
        backend.rotate_resource_key(next(iter(before), "X" * 20), "someone", [])
    with pytest.raises(BackendError, match="not created by Waldur"):
        backend.prune_unknown_resource_keys("someone", [])
    assert s3.state.user("someone").keys == before


def test_quotas_stop_writes_over_the_safety_limits(s3, backend):
    create(backend)
    s3.state.put_object(UID, "data", "big", 4 * GIB)
    with pytest.raises(QuotaExceeded):
        s3.state.put_object(UID, "other", "more", 2 * GIB)  # over the user's 5 GiB total


def test_quota_scope_bucket_leaves_the_users_total_open(s3, make_backend):
    create(make_backend(quota_scope="bucket"))
    assert s3.state.user(UID).bucket_quota.enabled
    assert not s3.state.user(UID).user_quota.enabled


def test_components_without_enforce_limits_get_no_quota(s3, make_backend):
    components = {k: {**c, "enforce_limits": False} for k, c in COMPONENTS.items()}
    create(make_backend(components))
    assert not s3.state.user(UID).user_quota.enabled


def test_upstream_attribute_names_and_user_settings_are_honoured(croit):
    backend = backend_of(
        croit_gateway(croit),
        default_tenant="research",
        default_placement="fast-placement",
        default_storage_class="COLD",
        s3_endpoint="https://s3.example.org",
        s3_region="eu-1",
    )
    resource = make_resource(attributes={"max_storage_limit": 2, "max_object_limit": 7})
    info = create(backend, resource)
    user = croit.state.user(UID)
    assert (user.user_quota.max_size, user.user_quota.max_objects) == (2 * GIB, 7)
    assert (user.tenant, user.default_placement, user.default_storage_class) == (
        "research",
        "fast-placement",
        "COLD",
    )
    metadata = info.backend_metadata
    assert (metadata["s3_endpoint"], metadata["s3_region"]) == ("https://s3.example.org", "eu-1")


def test_limit_based_storage_uses_the_resource_limit_as_its_ceiling(s3, make_backend):
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
    assert s3.state.user(UID).user_quota.max_size == 10 * GIB
    assert s3.state.user(UID).user_quota.max_objects == -1


def test_update_changes_only_the_ceilings_it_names(s3, backend):
    create(backend)
    backend.set_resource_limits(UID, {"s3_storage": 20, "unknown": 1})
    user = s3.state.user(UID)
    for quota in (user.user_quota, user.bucket_quota):
        assert (quota.max_size, quota.max_objects) == (20 * GIB, 100)
    backend.set_resource_limits(UID, {"s3_objects": 0})  # 0 lifts a ceiling
    assert (user.user_quota.max_size, user.user_quota.max_objects) == (20 * GIB, -1)


def test_invalid_safety_limits_fail_the_create_readably_and_leave_nothing(s3, backend):
    with pytest.raises(BackendError, match="storage_limit must be a number, got 'lots'"):
        create(backend, make_resource(attributes={"storage_limit": "lots"}))
    assert s3.state.user(UID) is None


def test_a_failed_step_after_the_user_was_made_deletes_it_again(croit):
    croit.fail("PUT", "/api/s3/users/*/quota", 500, "RGW: cannot set quota")
    with pytest.raises(AdminError, match="RGW: cannot set quota"):
        create(backend_of(croit_gateway(croit)))
    assert croit.state.user(UID) is None


def test_a_failed_quota_on_radosgw_deletes_the_user_again(radosgw):
    radosgw.fail("PUT", "user", 500, "InternalError", times=1)
    backend = backend_of(radosgw_gateway(radosgw))
    with pytest.raises(BackendError):
        create(backend)  # the create itself is the first PUT: it fails, nothing is made
    radosgw.fail("PUT", "user", 500, "InternalError", times=1)
    radosgw.state.create_user(UID, "half", email=owner_stamp(make_resource().uuid))
    with pytest.raises(AdminError, match="500 InternalError"):
        create(backend)  # an earlier attempt's user: completing it fails, it stays to retry
    assert radosgw.state.user(UID) is not None


def test_a_users_own_interrupted_create_is_completed(s3, backend):
    s3.state.create_user(UID, "half done", email=owner_stamp(make_resource().uuid))
    create(backend)
    assert s3.state.user(UID).user_quota.enabled


def test_someone_elses_user_with_the_same_name_is_not_taken_over(s3, backend):
    s3.state.create_user(UID, "foreign", email="someone@example.org")
    with pytest.raises(DuplicateResourceError, match="not created for resource"):
        create(backend)
    assert s3.state.user(UID).name == "foreign"
    assert not s3.state.user(UID).user_quota.enabled


def test_usage_is_what_the_buckets_hold_now(s3, backend):
    create(backend)
    s3.state.put_object(UID, "a", "one", 2 * GIB)
    s3.state.put_object(UID, "b", "two", GIB + GIB // 2)
    s3.state.put_object(UID, "b", "three", 10)
    report = backend.get_usage_report([UID, "waldur_gone_user_00000000"])
    assert report == {UID: {TOTAL_ACCOUNT_USAGE: {"s3_storage": 4, "s3_objects": 3}}}
    s3.state.delete_object(UID, "a", "one")
    assert backend.get_usage_report([UID])[UID][TOTAL_ACCOUNT_USAGE] == {
        "s3_storage": 2,
        "s3_objects": 2,
    }
    assert backend.supports_decreasing_usage


def test_metadata_follows_the_buckets(s3, backend):
    create(backend)
    s3.state.put_object(UID, "photos", "a.jpg", 1000)
    s3.state.put_object(UID, "photos", "b.jpg", 24)
    s3.state.create_bucket(UID, "empty")
    summary = backend.get_resource_metadata(UID)["storage_summary"]
    # Croit sums the objects' sizes, RadosGW (as upstream reads it) what they take on disk.
    size = 1024 if s3.flavour == "croit" else 2 * 4096
    assert summary == {
        "bucket_count": 2,
        "total_size_bytes": size,
        "total_objects": 2,
        "buckets": [
            {"name": "photos", "size_bytes": size, "objects": 2},
            {"name": "empty", "size_bytes": 0, "objects": 0},
        ],
    }
    assert backend.get_resource_metadata("nobody") == {}


def test_pull_sees_linked_users_but_never_for_a_resource_still_creating(s3, backend):
    create(backend)
    linked = make_resource(backend_id=UID, state="OK")
    assert backend.pull_resource(linked).backend_id == UID
    assert backend.pull_resource(make_resource(backend_id=UID)) is None  # Creating
    assert backend.pull_resource(make_resource(backend_id="missing", state="OK")) is None
    assert backend.add_users_to_resource(UID, {"alice"}) == set()
    assert backend.membership_sync_states(UID, {"alice"}) is None
    backend.set_resource_user_limits(UID, "alice", {"s3_storage": 1})
    assert s3.state.user(UID).user_quota.max_size == 5 * GIB
    assert UID in [r.name for r in backend.list_resources()]


def test_terminate_deletes_the_user_and_tolerates_its_absence(s3, backend):
    create(backend)
    backend.delete_resource(make_resource(backend_id=UID, state="Terminating"))
    assert s3.state.user(UID) is None
    backend.delete_resource(make_resource(backend_id=UID, state="Terminating"))


def test_radosgw_will_not_delete_a_user_owning_buckets(radosgw):
    backend = backend_of(radosgw_gateway(radosgw))
    create(backend)
    radosgw.state.put_object(UID, "data", "x", 10)
    with pytest.raises(AdminError, match="still owns buckets: empty and remove them"):
        backend.delete_resource(make_resource(backend_id=UID, state="Terminating"))
    assert radosgw.state.user(UID).buckets, "no data is purged"


def test_soft_delete_keeps_the_data_with_zero_quotas_and_no_key(s3, make_backend):
    backend = make_backend(soft_delete=True)
    create(backend)
    backend.generate_resource_key(UID)
    s3.state.put_object(UID, "data", "x", 10)
    backend.delete_resource(make_resource(backend_id=UID, state="Terminating"))
    user = s3.state.user(UID)
    assert user.keys == {} and user.buckets["data"].objects == {"x": 10}
    for quota in (user.user_quota, user.bucket_quota):
        assert (quota.enabled, quota.max_size, quota.max_objects) == (True, 0, 0)
    with pytest.raises(QuotaExceeded):
        s3.state.put_object(UID, "data", "y", 1)
    backend.apply_resource_limits(make_resource(backend_id=UID, state="OK"))  # a Restore
    assert (user.user_quota.max_size, user.user_quota.max_objects) == (5 * GIB, 100)


def test_accounts_named_by_project_slug_are_numbered(s3, backend):
    backend.set_offering_details([], {"account_name_generation_policy": "project_slug"})
    first, second = make_resource(uuid="1" * 32), make_resource(uuid="2" * 32)
    candidates = backend.backend_id_candidates(second)
    assert candidates[:3] == ["waldur_myproject", "waldur_myproject-0", "waldur_myproject-1"]
    backend.create_resource_with_id(first, candidates[0])
    assert backend.claim(second, candidates[0]) == "theirs"  # the core takes the next name
    assert backend.claim(second, candidates[1]) == "free"


def test_croit_s3_shows_the_first_key_in_the_metadata_and_ceph_s3_no_secret(s3):
    """Upstream's `croit_s3` published the user's key as `s3_credentials`; `ceph_s3` keeps the
    keys to Waldur's resource API keys."""
    croit_s3 = CroitS3MetadataKeysBackend({**s3.settings, "s3_region": "eu-1"}, COMPONENTS)
    ceph_s3 = backend_of(s3)
    assert (croit_s3.backend_type, ceph_s3.backend_type) == ("croit_s3", "ceph_s3")
    info = create(croit_s3)
    assert "s3_credentials" not in info.backend_metadata, "no key yet: the core mints them next"
    assert croit_s3.key_bearing_metadata(UID) == info.backend_metadata
    first = croit_s3.generate_resource_key(UID)
    second = croit_s3.generate_resource_key(UID)
    credentials = {
        "access_key": first["client_id"],
        "secret_key": first["api_key"],
        "endpoint": s3.endpoint,
        "region": "eu-1",
    }
    metadata = croit_s3.get_resource_metadata(UID)
    assert metadata["s3_credentials"] == credentials
    assert croit_s3.key_bearing_metadata(UID) == metadata
    assert metadata["s3_user"] == UID and "storage_summary" in metadata

    rotated = croit_s3.rotate_resource_key(first["client_id"], UID, None)
    assert croit_s3.get_resource_metadata(UID)["s3_credentials"]["access_key"] in {
        second["client_id"],
        rotated["client_id"],
    }
    assert croit_s3.get_resource_metadata(UID)["s3_credentials"]["access_key"] != first["client_id"]

    plain = ceph_s3.get_resource_metadata(UID)
    assert ceph_s3.key_bearing_metadata(UID) is None
    assert "s3_credentials" not in plain
    shown = repr(plain)
    assert not [s for s in s3.state.user(UID).keys.values() if s in shown]
    assert not [a for a in s3.state.user(UID).keys if a in shown]


@pytest.mark.parametrize("plugin", [CroitS3Backend, CroitS3MetadataKeysBackend])
def test_nothing_secret_is_logged(s3, plugin, caplog):
    caplog.set_level(logging.DEBUG)
    backend = plugin({**s3.settings, "timeout": 5}, COMPONENTS)
    create(backend)
    minted = backend.generate_resource_key(UID)
    backend.rotate_resource_key(minted["client_id"], UID, [minted["client_id"]])
    backend.generate_resource_key(UID)
    backend.get_resource_metadata(UID)
    backend.key_bearing_metadata(UID)
    backend.diagnostics()
    secrets = [k for k in s3.state.user(UID).keys.values()] + [minted["api_key"]]
    secrets += [s3.settings.get("token"), s3.settings.get("admin_secret_key")]
    assert not [s for s in secrets if s and s in caplog.text]


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"api_url": "http://croit"}, "either token, or username and password"),
        ({"api_url": "http://croit", "token": "t", "password": "p"}, "either token"),
        ({"api_url": "http://croit", "username": "u"}, "go together"),
        ({"api_url": "croit", "token": "t"}, "api_url: expected an http(s) URL"),
        ({"token": "t"}, "api_url: required"),
        (
            {"api_url": "http://c", "token": "t", "user_prefix": "a", "allocation_prefix": "b"},
            "one",
        ),
        ({"api_url": "http://c", "token": "t", "user_prefix": "Bad!"}, "user_prefix"),
        ({"api_url": "http://c", "token": "t", "tiemout": 5}, "tiemout"),
        ({"api_url": "http://c", "token": "t", "admin_access_key": "A"}, "only for flavour"),
        ({"flavour": "radosgw", "s3_endpoint": "http://rgw"}, "needs admin_access_key"),
        (
            {"flavour": "radosgw", "api_url": "http://c", "admin_access_key": "A"},
            "api_url: not used by flavour radosgw",
        ),
        (
            {
                "flavour": "radosgw",
                "s3_endpoint": "http://rgw",
                "admin_access_key": "A",
                "admin_secret_key": "S",
                "default_tenant": "t",
            },
            "default_tenant: RadosGW's Admin Ops API cannot set it",
        ),
    ],
)
def test_unusable_settings_are_configuration_errors(settings, words):
    with pytest.raises(ConfigurationError, match="Ceph S3 settings") as caught:
        CroitS3Backend(settings, COMPONENTS)
    assert words in str(caught.value)


def test_a_component_without_its_metric_is_a_configuration_error():
    components = {"s3_storage": {**COMPONENTS["s3_storage"]}}
    del components["s3_storage"]["backend_name"]
    with pytest.raises(ConfigurationError, match="component s3_storage"):
        CroitS3Backend({"api_url": "http://c", "token": "t"}, components)
