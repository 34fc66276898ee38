"""`BaseBackend`'s default methods, exercised through the third-party fixture plugin.

The fixture implements only what a plugin must (the abstract methods and a `BaseClient`); all
behaviour tested here comes from `BaseBackend` itself.
"""

import msgspec
import pytest
from fixture_plugin import client as fixture_client
from fixture_plugin.backend import FixtureBackend

from waldur_site_agent_actors.backends.base import BaseBackend
from waldur_site_agent_actors.backends.exceptions import (
    BackendError,
    BackendNotReadyError,
    DuplicateResourceError,
    InvalidNameError,
)
from waldur_site_agent_actors.backends.structures import (
    ACCEPT,
    TOTAL_ACCOUNT_USAGE,
    Association,
    BackendResourceInfo,
    WaldurResource,
)

COMPONENTS = {
    "cpu": {"accounting_type": "limit", "unit_factor": 60000, "label": "CPU"},
    "mem": {"accounting_type": "usage", "unit_factor": 61440, "label": "Memory", "limit": 10},
    "gpu": {"accounting_type": "usage", "label": "GPU"},  # no unit_factor: 1
}


@pytest.fixture(autouse=True)
def fresh_stores():
    fixture_client.reset()
    yield
    fixture_client.reset()


@pytest.fixture
def backend() -> FixtureBackend:
    return FixtureBackend({"endpoint": "mem://base", "default_account": "root"}, COMPONENTS)


def resource(**overrides) -> WaldurResource:
    fields = {
        "uuid": "7c1f0e3a9b2d4c5e8f6a1b2c3d4e5f60",
        "name": "Climate runs",
        "slug": "Climate-Runs",
        "project_uuid": "p-uuid",
        "limits": {"cpu": 1.5},
    }
    return WaldurResource(**{**fields, **overrides})


# -- creation ------------------------------------------------------------------------------------


def test_create_resource_with_id_creates_sets_limits_and_reports_them(backend):
    info = backend.create_resource_with_id(resource(), "alloc_1")
    assert info == BackendResourceInfo(backend_id="alloc_1", limits={"cpu": 90000, "mem": 614400})
    account = backend.client.get_resource("alloc_1")
    assert account is not None
    # The organization is the owner record: the resource the account was made for.
    owner = "waldur-resource-7c1f0e3a9b2d4c5e8f6a1b2c3d4e5f60"
    assert (account.description, account.organization) == ("Climate runs", owner)
    assert backend.client.get_resource_limits("alloc_1") == {"cpu": 90000, "mem": 614400}


def test_a_prepaid_one_component_is_set_as_the_resource_s_limit():
    """Upstream's plugins other than SLURM take a prepaid (`one`) component's limit as the
    resource gives it, with no duration arithmetic (SLURM's budget: tests/slurm/test_features.py);
    so do demo, croit_s3 and MUP here, which share this code."""
    components = {"cpu": {"accounting_type": "one", "unit_factor": 60000, "label": "CPU"}}
    backend = FixtureBackend({"endpoint": "mem://base"}, components)
    assert backend.has_prepaid_components() is False  # nothing to recompute on a renewal
    info = backend.create_resource_with_id(resource(limits={"cpu": 2}), "alloc_1")
    assert info.limits == {"cpu": 120000}
    assert backend.client.get_resource_limits("alloc_1") == {"cpu": 120000}
    assert backend.backend_owned_limits() == {"cpu"}  # the customer's, read back to Waldur


def test_an_account_is_ours_only_when_its_owner_record_names_the_resource(backend):
    mine = resource()
    assert backend.claim(mine, "alloc_1") == "free"
    backend.create_resource_with_id(mine, "alloc_1")
    assert backend.claim(mine, "alloc_1") == "ours"
    dashed = resource(uuid="7c1f0e3a-9b2d-4c5e-8f6a-1b2c3d4e5f60")
    assert backend.claim(dashed, "alloc_1") == "ours"
    assert backend.claim(resource(uuid="0" * 32), "alloc_1") == "theirs"
    backend.client.create_resource("by_hand", "made by an operator", "p-uuid")
    assert backend.claim(mine, "by_hand") == "unrecorded"


def test_candidates_are_the_usual_name_then_numbered_ones(backend):
    names = backend.backend_id_candidates(resource())
    assert names[:3] == ["fx_climate-runs", "fx_climate-runs-2", "fx_climate-runs-3"]
    assert len(names) == 50  # upstream's default backend_id_max_retries


def test_second_create_with_the_same_id_is_a_duplicate(backend):
    backend.create_resource_with_id(resource(), "alloc_1")
    with pytest.raises(DuplicateResourceError, match="'alloc_1' already exists"):
        backend.create_resource_with_id(resource(uuid="other"), "alloc_1")
    assert isinstance(DuplicateResourceError("x"), BackendError)
    assert [r.name for r in backend.list_resources()] == ["alloc_1"]


def test_duplicate_is_seen_by_another_instance_of_the_same_offering(backend):
    backend.create_resource_with_id(resource(), "alloc_1")
    again = FixtureBackend({"endpoint": "mem://base"}, COMPONENTS)
    with pytest.raises(DuplicateResourceError):
        again.create_resource_with_id(resource(), "alloc_1")


def test_create_resource_derives_a_deterministic_lowercase_id(backend):
    assert backend.create_resource(resource()).backend_id == "fx_climate-runs"
    no_slug = resource(slug="", uuid="ABCDEF")
    assert backend.resource_backend_id(no_slug) == "fx_abcdef"
    plain = FixtureBackend({"endpoint": "mem://x", "allocation_prefix": ""}, COMPONENTS)
    assert plain.resource_backend_id(resource()) == "climate-runs"


def test_user_context_reaches_the_pre_create_hook(backend):
    context = {"team": [{"username": "alice"}], "ssh_keys": {"k1": "ssh-ed25519 AAAA"}}
    backend.create_resource(resource(), user_context=context)
    assert backend.created_with_context[resource().uuid] == context


def test_post_create_hook_can_fill_backend_metadata():
    class WithMetadata(FixtureBackend):
        def post_create_resource(self, resource, waldur_resource, user_context=None):
            resource.backend_metadata = {"quota_path": f"/data/{resource.backend_id}"}

    backend = WithMetadata({"endpoint": "mem://meta"}, COMPONENTS)
    info = backend.create_resource(resource())
    assert info.backend_metadata == {"quota_path": "/data/fx_climate-runs"}


def test_a_hostile_id_never_reaches_the_backend(backend):
    with pytest.raises(InvalidNameError):
        backend.create_resource_with_id(resource(), "x; rm -rf /")
    assert backend.list_resources() == []


def test_no_limits_means_no_limit_call():
    backend = FixtureBackend({"endpoint": "mem://nolimits"}, {"gpu": {"label": "GPU"}})
    info = backend.create_resource_with_id(resource(limits={}), "alloc_1")
    assert info.limits == {}
    assert backend.client.get_resource_limits("alloc_1") == {}


# -- limits --------------------------------------------------------------------------------------


def test_unit_factor_defaults_to_one(backend):
    assert backend.unit_factor("cpu") == 60000
    assert backend.unit_factor("gpu") == 1
    assert backend.unit_factor("not-configured") == 1


def test_set_limits_multiplies_and_rounds_up_ignoring_unknown_components(backend):
    backend.create_resource_with_id(resource(limits={}), "alloc_1")
    backend.set_resource_limits("alloc_1", {"cpu": 2, "mem": 0.5, "gpu": 0.2, "disk": 9})
    assert backend.client.get_resource_limits("alloc_1") == {
        "cpu": 120000,
        "mem": 30720,
        "gpu": 1,  # 0.2 GPU-hours is still a quota: never 0
    }


def test_get_limits_divides_and_drops_unconfigured_backend_keys(backend):
    backend.create_resource_with_id(resource(limits={}), "alloc_1")
    backend.client.set_resource_limits("alloc_1", {"cpu": 90000, "mem": 122880, "node": 4})
    assert backend.get_resource_limits("alloc_1") == {"cpu": 1.5, "mem": 2.0}


def test_limits_round_trip(backend):
    backend.create_resource_with_id(resource(limits={}), "alloc_1")
    limits = {"cpu": 12.5, "mem": 3.0, "gpu": 7.0}
    backend.set_resource_limits("alloc_1", limits)
    assert backend.get_resource_limits("alloc_1") == limits


def test_limits_an_admin_changed_on_the_backend_go_to_waldur_merged_with_the_rest(backend):
    backend.create_resource_with_id(resource(limits={"cpu": 1.5}), "alloc_1")
    mine = resource(backend_id="alloc_1", limits={"cpu": 1.5, "other": 7})
    assert backend.waldur_updates(mine).limits is msgspec.UNSET  # 90000 is 1.5
    assert backend.waldur_updates(resource(backend_id="alloc_1", limits={"cpu": 1})).limits == {
        "cpu": 1.5
    }
    backend.client.set_resource_limits("alloc_1", {"cpu": 120000, "mem": 30720})
    # `mem` is a usage component: its backend limit is the configured cap, never Waldur's.
    assert backend.waldur_updates(mine).limits == {"cpu": 2.0, "other": 7}
    erred = resource(backend_id="alloc_1", limits={"cpu": 1.5}, state="Erred")
    assert backend.waldur_updates(erred).limits is msgspec.UNSET


def test_a_limit_the_backend_rounded_up_is_no_change(backend):
    # 0.00001 CPU-hours is 0.6 CPU-minutes: the backend holds 1, which reads back as 0.0.
    backend.create_resource_with_id(resource(limits={"cpu": 0.00001}), "alloc_1")
    tiny = resource(backend_id="alloc_1", limits={"cpu": 0.00001})
    assert backend.waldur_updates(tiny).limits is msgspec.UNSET


def test_user_limits_are_converted_too(backend):
    backend.create_resource_with_id(resource(limits={}), "alloc_1")
    backend.set_resource_user_limits("alloc_1", "alice", {"cpu": 0.5, "disk": 1})
    assert backend.get_resource_user_limits("alloc_1") == {"alice": {"cpu": 30000}}


# -- users ---------------------------------------------------------------------------------------


def test_add_user_links_once_with_the_default_account(backend):
    backend.create_resource_with_id(resource(), "alloc_1")
    assert backend.add_user("alloc_1", "alice") is True
    assert backend.add_user("alloc_1", "alice") is False  # already linked: nothing to do
    assert backend.client.get_association("alice", "alloc_1") == Association(
        account="alloc_1", user="alice"
    )


def test_add_users_skips_the_failing_one_and_links_the_rest(backend, caplog):
    backend.create_resource_with_id(resource(), "alloc_1")
    added = backend.add_users_to_resource("alloc_1", {"alice", "bob", "$(id)"})
    assert added == {"alice", "bob"}
    assert backend.pull_resource(resource(backend_id="alloc_1")).users == ["alice", "bob"]
    assert "cannot add $(id) to alloc_1" in caplog.text


def test_remove_user_runs_the_per_user_hook_first():
    calls = []

    class Hooked(FixtureBackend):
        def _pre_delete_user_actions(self, resource_backend_id, username):
            assert self.client.get_association(username, resource_backend_id) is not None
            calls.append((resource_backend_id, username))

    backend = Hooked({"endpoint": "mem://hooked"}, COMPONENTS)
    backend.create_resource_with_id(resource(), "alloc_1")
    backend.add_users_to_resource("alloc_1", {"alice", "bob"})
    assert backend.remove_user("alloc_1", "alice") is True
    assert backend.remove_user("alloc_1", "alice") is False
    assert calls == [("alloc_1", "alice")]
    assert backend.remove_users_from_resource("alloc_1", {"bob", "carol"}) == ["bob"]
    assert backend.client.list_resource_users("alloc_1") == []


# -- usage ---------------------------------------------------------------------------------------


def test_usage_report_fills_zero_totals_for_resources_without_usage(backend):
    backend.create_resource_with_id(resource(), "alloc_1")
    report = backend.get_usage_report(["alloc_1", "not_on_backend"])
    zeros = {"cpu": 0, "mem": 0, "gpu": 0}
    assert report == {
        "alloc_1": {TOTAL_ACCOUNT_USAGE: zeros},
        "not_on_backend": {TOTAL_ACCOUNT_USAGE: zeros},
    }


def test_usage_report_sums_users_when_the_plugin_gives_no_total(backend):
    backend.create_resource_with_id(resource(), "alloc_1")
    backend.create_resource_with_id(resource(uuid="2"), "alloc_2")
    client = backend.memory
    # The seed's example, in backend units: 120000 CPU-minutes, 122880 MB-minutes.
    client.record_usage("alloc_1", "alice", "cpu", 120000)
    client.record_usage("alloc_1", "alice", "mem", 122880)
    client.record_usage("alloc_1", "bob", "cpu", 60000)
    client.record_usage("alloc_1", "bob", "unconfigured", 5)
    client.record_usage("alloc_2", "carol", "gpu", 3)
    report = backend.get_usage_report(["alloc_1", "alloc_2"])
    assert report["alloc_1"] == {
        "alice": {"cpu": 2, "mem": 2},
        "bob": {"cpu": 1},
        TOTAL_ACCOUNT_USAGE: {"cpu": 3, "mem": 2, "gpu": 0},
    }
    assert report["alloc_2"] == {
        "carol": {"gpu": 3},
        TOTAL_ACCOUNT_USAGE: {"cpu": 0, "mem": 0, "gpu": 3},
    }


def test_a_total_given_by_the_plugin_is_kept():
    class WithTotal(FixtureBackend):
        def _get_usage_report(self, resource_backend_ids):
            return {"a": {TOTAL_ACCOUNT_USAGE: {"cpu": 10}, "alice": {"cpu": 4}}}

    backend = WithTotal({"endpoint": "mem://total"}, COMPONENTS)
    assert backend.get_usage_report(["a"]) == {
        "a": {TOTAL_ACCOUNT_USAGE: {"cpu": 10}, "alice": {"cpu": 4}}
    }


# -- the rest of the defaults --------------------------------------------------------------------


def test_defaults_of_the_optional_hooks(backend):
    assert backend.check_pending_order("order-1") is True
    assert backend.evaluate_pending_order(object()) is ACCEPT
    assert backend.get_usage_report_for_period(["a"], 2026, 1) == {}
    assert backend.setup_target_event_subscriptions() == []
    assert backend.supports_decreasing_usage is False
    assert backend.supports_async_orders is False
    assert FixtureBackend.handled_resource_states == ("OK", "Erred")


def test_pull_and_delete(backend):
    assert backend.pull_resource(resource()) is None  # no backend id yet
    backend.create_resource_with_id(resource(), "alloc_1")
    backend.add_user("alloc_1", "alice")
    pulled = backend.pull_resource(resource(backend_id="alloc_1"))
    assert pulled == BackendResourceInfo(backend_id="alloc_1", users=["alice"])
    assert backend.delete_resource(resource(backend_id="alloc_1")) is None
    assert backend.pull_resource(resource(backend_id="alloc_1")) is None
    # Deleting what is not there is not an error: a retried terminate order succeeds.
    assert backend.delete_resource(resource(backend_id="alloc_1")) is None


def test_settings_and_components_are_copies():
    settings = {"endpoint": "mem://copy"}
    components = {"cpu": {"unit_factor": 2}}
    backend = FixtureBackend(settings, components)
    backend.backend_components["cpu"]["unit_factor"] = 5
    backend.backend_settings["endpoint"] = "changed"
    assert components == {"cpu": {"unit_factor": 2}}
    assert settings == {"endpoint": "mem://copy"}


def test_a_backend_without_client_says_so():
    class NoClient(FixtureBackend):
        def __init__(self, *args):
            super().__init__(*args)
            self.client = None

    backend = NoClient({"endpoint": "mem://none"}, COMPONENTS)
    with pytest.raises(BackendError, match="NoClient has no client"):
        backend.list_resources()


def test_the_abstract_methods_must_be_implemented():
    class Incomplete(BaseBackend):
        def ping(self, raise_exception=False):
            return True

    with pytest.raises(TypeError, match="abstract"):
        Incomplete({}, {})  # type: ignore[abstract]


def test_a_forced_resync_recreates_a_lost_resource_under_its_backend_id(backend):
    backend.create_resource_with_id(resource(), "alloc_1")
    assert backend.recreate_missing_resource(resource(backend_id="alloc_1")) is False
    backend.client.delete_resource("alloc_1")
    assert backend.recreate_missing_resource(resource(backend_id="alloc_1")) is True
    assert backend.client.get_resource_limits("alloc_1") == {"cpu": 90000, "mem": 614400}
    assert backend.recreate_missing_resource(resource(backend_id="")) is False


def test_the_cycle_preflight_is_the_ping(backend, monkeypatch):
    backend.run_preflight()
    monkeypatch.setattr(backend, "ping", lambda raise_exception=False: False)
    with pytest.raises(BackendNotReadyError, match="not reachable"):
        backend.run_preflight()
