"""Username sync against the Waldur simulator: names by rule, unique, stored, states moved."""

from tests.usernames import plugins
from waldur_site_agent_actors.backends.exceptions import (
    BackendError,
    OfferingUserAdditionalValidationRequiredError,
)

LINKING = "Pending account linking"


def test_names_by_rule_unique_stored_and_users_moved_to_ok(waldur, sync):
    assert waldur.names() == {
        "alice": (None, "Requested"),
        "bob": (None, "Requested"),
        "anna": (None, "Requested"),
        "8172634": (None, "Requested"),
    }
    assert sync() == 3
    assert waldur.names() == {
        "alice": ("aandersen", "OK"),
        "bob": ("bberg", "OK"),
        "anna": ("aandersen2", "OK"),
        "8172634": (None, LINKING),
    }
    lei = waldur.users()["8172634"]
    assert "link an existing account" in lei["service_provider_comment"]
    assert sorted(waldur.calls("begin_creating")) == ["8172634", "alice", "anna", "bob"]
    assert waldur.calls("set_pending_account_linking") == ["8172634"]
    # Nothing left to do: a second sync changes nothing and moves nobody.
    waldur.sim.reset_counters()
    assert sync() == 0
    assert waldur.names()["8172634"] == (None, LINKING)
    assert [r["method"] for r in waldur.sim.requests()].count("POST") == 0


def test_pending_account_linking_ends_when_the_profile_gives_a_name(waldur, sync):
    sync()
    waldur.set_full_name("8172634", "Lei Li")
    assert sync() == 1
    assert waldur.names()["8172634"] == ("lli", "OK")
    assert waldur.calls("set_validation_complete") == ["8172634"]
    assert waldur.users()["8172634"]["service_provider_comment"] == ""


def test_restricted_users_keep_their_names_taken(waldur, sync):
    waldur.act("bob", "PATCH", {"username": "aandersen", "is_restricted": True})
    sync()
    names = waldur.names()
    assert names["bob"] == ("aandersen", "OK"), "restricted users are not renamed"
    assert (names["alice"], names["anna"]) == (("aandersen2", "OK"), ("aandersen3", "OK"))


def test_users_left_without_a_username_are_named_by_the_next_sync(waldur, sync):
    # An agent that stopped between begin_creating and storing the name left Alice in Creating;
    # Bob was set OK by hand without a name. Both are repaired.
    waldur.act("alice", "begin_creating")
    waldur.act("bob", "set_ok")
    waldur.sim.reset_counters()
    sync()
    assert waldur.names()["alice"] == ("aandersen", "OK")
    assert waldur.names()["bob"] == ("bberg", "OK")
    assert "alice" not in waldur.calls("begin_creating")
    # A name cleared later is given back by the following sync (the one it had is free again).
    waldur.act("bob", "PATCH", {"username": ""})
    assert waldur.names()["bob"] == ("", "OK")
    assert sync() == 1
    assert waldur.names()["bob"] == ("bberg", "OK")


def test_plugin_outcomes_move_users_to_their_states(waldur, sync, fake_plugins):
    fake_plugins.add(
        "waldur_site_agent.username_management_backends",
        "scripted",
        "tests.usernames.plugins:Scripted",
    )
    plugins.SCRIPT.clear()
    plugins.SCRIPT.update(
        alice=("existing", "alice01"),
        bob=BackendError("directory unreachable"),
        anna=OfferingUserAdditionalValidationRequiredError("send your ID", "https://id.example"),
        # "8172634": no answer: a plugin that makes no names leaves the user where it is
    )
    sync("scripted")
    assert waldur.names() == {
        "alice": ("alice01", "OK"),
        "bob": (None, "Error creating"),
        "anna": (None, "Pending additional validation"),
        "8172634": (None, "Requested"),
    }
    assert waldur.users()["anna"]["service_provider_comment_url"] == "https://id.example"
    # Still failing: no invalid transition is attempted (Waldur would answer 400).
    waldur.sim.reset_counters()
    sync("scripted")
    assert all(r["status"] < 400 for r in waldur.sim.requests())
    assert waldur.names()["bob"] == (None, "Error creating")
    # Fixed: an Error creating user goes through Creating to OK; an existing account that
    # another user already holds is refused rather than renumbered.
    plugins.SCRIPT.update(bob="bberg", anna=("existing", "alice01"))
    sync("scripted")
    assert waldur.names()["bob"] == ("bberg", "OK")
    assert waldur.names()["anna"] == (None, "Error creating")
    assert waldur.calls("begin_creating").count("bob") == 1


def test_nothing_happens_unless_the_offering_lets_the_provider_make_names(waldur, sync):
    with waldur.sim.state.lock:
        offering = waldur.sim.state.get("offerings", waldur.offering["uuid"])
        offering["plugin_options"]["username_generation_policy"] = "waldur_username"
        waldur.sim.state.put("offerings", offering)
        waldur.sim.state.commit()
    assert sync() == 0
    assert {state for _, state in waldur.names().values()} == {"Requested"}
