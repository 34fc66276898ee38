"""The federation's two-way pieces against a Waldur B simulator, called as the core calls them:
identity-bridge resolution, end dates in each direction, limits back from B, the
`waldur-identity-bridge` username plugin."""

import msgspec
import pytest

from tests.federation.conftest import COMPONENTS, ISD
from tests.federation.test_backend import create, resource
from waldur_site_agent_actors.backends.component_mapping import ComponentMapper
from waldur_site_agent_actors.backends.exceptions import BackendError
from waldur_site_agent_actors.backends.usernames import OfferingUserInfo
from waldur_site_agent_actors.backends.waldur.backend import WaldurBackend
from waldur_site_agent_actors.backends.waldur.end_dates import winner
from waldur_site_agent_actors.backends.waldur.members import Member
from waldur_site_agent_actors.backends.waldur.usernames import IdentityBridgeUsernames

UNSET = msgspec.UNSET


def upstream_default(b, **settings):
    """B's settings as an upstream file leaves them: no user_resolve_method."""
    raw = b.settings(**settings)
    del raw["user_resolve_method"]
    return raw


def test_a_file_without_an_identity_bridge_source_finds_nobody_and_says_why(b, caplog):
    backend = WaldurBackend(upstream_default(b), COMPONENTS)
    assert "identity_bridge_source is not set" in caplog.text  # at start, as an error
    assert backend.members.resolve(Member(username="alice", email="alice@example.org")) is None
    failing = WaldurBackend(upstream_default(b, user_not_found_action="fail"), COMPONENTS)
    with pytest.raises(BackendError, match="set identity_bridge_source, or user_resolve_method"):
        failing.members.resolve(Member(username="alice"))


def test_the_bridge_sends_only_what_b_takes_and_answers_bs_user(b):
    backend = WaldurBackend(upstream_default(b, identity_bridge_source=ISD), COMPONENTS)
    profile = {"first_name": "Ada", "last_name": "Lovelace", "civil_number": "123", "email": ""}
    uuid = backend.members.resolve(Member(username="ada@idp", attributes=profile))
    (user,) = b.sim.objects("users", username="ada@idp")
    assert user["uuid"] == uuid
    assert (user["first_name"], user["last_name"], user["active_isds"]) == (
        "Ada",
        "Lovelace",
        [ISD],
    )
    assert "civil_number" not in user  # B does not take it: not sent, so B did not refuse
    b.sim.reset_counters()
    assert backend.members.resolve(Member(username="ada@idp")) == uuid  # remembered
    assert b.sim.requests() == []


@pytest.mark.parametrize(
    ("direction", "a_at", "b_at", "expected"),
    [
        ("disabled", "2030-01-02T00:00:00Z", None, None),
        ("a_to_b", None, "2030-01-02T00:00:00Z", "a"),
        ("b_to_a", "2030-01-02T00:00:00Z", None, "b"),
        ("bidirectional", "2030-01-02T00:00:00Z", "2030-01-01T00:00:00Z", "a"),
        ("bidirectional", "2030-01-01T00:00:00+00:00", "2030-01-02T00:00:00Z", "b"),
        ("bidirectional", "2030-01-01T00:00:00Z", "2030-01-01T00:00:00Z", None),
        ("bidirectional", "2030-01-01T00:00:00Z", None, "a"),
        ("bidirectional", None, "2030-01-01T00:00:00Z", "b"),
        ("bidirectional", None, None, None),
    ],
)
def test_who_wins_when_end_dates_differ(direction, a_at, b_at, expected):
    assert winner(direction, "2031-01-01", "2032-01-01", a_at, b_at) == expected
    assert winner(direction, "2031-01-01", "2031-01-01", a_at, b_at) is None


@pytest.mark.parametrize("direction", ["a_to_b", "b_to_a", "disabled"])
def test_end_dates_go_the_configured_way(b, direction):
    backend = WaldurBackend(b.settings(end_date_sync_direction=direction), COMPONENTS)
    uuid = create(backend, b)
    b.provider._call(
        "POST", f"marketplace-provider-resources/{uuid}/set_end_date/", {"end_date": "2030-06-30"}
    )
    here = msgspec.structs.replace(
        resource(), backend_id=uuid, end_date="2031-01-31", end_date_updated_at="2099-01-01T00:00Z"
    )
    updates = backend.waldur_updates(here)
    (there,) = b.sim.objects("resources", uuid=uuid)
    if direction == "a_to_b":
        assert (updates.end_date, there["end_date"]) == (UNSET, "2031-01-31")
    elif direction == "b_to_a":
        assert (updates.end_date, there["end_date"]) == ("2030-06-30", "2030-06-30")
    else:
        assert (updates.end_date, there["end_date"]) == (UNSET, "2030-06-30")
        assert updates.project_end_date is UNSET


def test_limits_come_back_only_when_b_changed_them_and_only_when_asked(b):
    backend = WaldurBackend(b.settings(), COMPONENTS)
    uuid = create(backend, b)
    here = msgspec.structs.replace(resource(), backend_id=uuid)
    assert backend.waldur_updates(here).limits is UNSET  # B has what A's limits map to
    b.provider._call(
        "POST", f"marketplace-provider-resources/{uuid}/set_limits/", {"limits": {"cpu": 90}}
    )
    assert backend.waldur_updates(here).limits == {"cpu": 90, "small_nodes": 2, "large_nodes": 3}
    disabled = WaldurBackend(b.settings(limit_sync_direction="disabled"), COMPONENTS)
    assert disabled.waldur_updates(here).limits is UNSET


def test_limits_back_from_b_never_move_a_limit_by_rounding():
    mapper = ComponentMapper(
        {
            "node_hours": {
                "target_components": {"gpu_hours": {"factor": 5}, "disk": {"factor": 10}}
            },
            "cores": {"target_components": {"cpu": {"factor": 0.3}}},
        }
    )
    current = {"node_hours": 100.0, "cores": 7.0}
    b_limits = mapper.limits_to_target(current)
    assert b_limits == {"gpu_hours": 500, "disk": 1000, "cpu": 3}  # 7 x 0.3 rounded up
    assert mapper.limits_to_source(b_limits, current) == {}
    # fan-out: what the scarcest target grants; a changed one, divided back
    assert mapper.limits_to_source({**b_limits, "gpu_hours": 400, "cpu": 6}, current) == {
        "node_hours": 80.0,
        "cores": 20.0,
    }


def test_the_username_plugin_pushes_users_names_nobody_and_removes_who_left(b):
    settings = {**upstream_default(b), "identity_bridge_source": ISD}
    plugin = IdentityBridgeUsernames(settings)

    def user(username: str) -> OfferingUserInfo:
        return OfferingUserInfo(
            uuid=username, user_username=username, profile={"first_name": username.title()}
        )

    assert plugin.generate_username(user("eve@idp")) == ""
    assert b.sim.objects("users", username="eve@idp")[0]["first_name"] == "Eve@Idp"
    plugin.sync_user_profiles([user("eve@idp"), user("finn@idp")])
    assert b.sim.objects("users", username="finn@idp")[0]["is_active"] is True
    plugin.sync_user_profiles([user("eve@idp")])
    (finn,) = b.sim.objects("users", username="finn@idp")
    assert (finn["is_active"], finn["active_isds"]) == (False, [])
    assert b.sim.objects("users", username="eve@idp")[0]["is_active"] is True
