"""The mup backend against the MUP simulator: every flow checked on the portal's side."""

import pytest

from waldur_site_agent_actors.backends.exceptions import (
    BackendError,
    BackendNotReadyError,
    ConfigurationError,
)
from waldur_site_agent_actors.backends.mup import profiles
from waldur_site_agent_actors.backends.mup.api import MupUnavailable
from waldur_site_agent_actors.backends.mup.backend import MupBackend, grant_number
from waldur_site_agent_actors.backends.mup.settings import MupSettings
from waldur_site_agent_actors.backends.structures import TOTAL_ACCOUNT_USAGE, WaldurResource

COMPONENTS = {
    "cpu": {
        "measured_unit": "k-core-hours",
        "accounting_type": "limit",
        "label": "CPU",
        "unit_factor": 1000,
        "mup_allocation_type": "Deucalion x86_64",
    },
    "storage": {
        "measured_unit": "GB",
        "accounting_type": "limit",
        "label": "Storage",
        "unit_factor": 1,
        "mup_allocation_type": "storage",
    },
}


def settings(mup, **extra):
    return {"api_url": mup.api_url, "username": mup.username, "password": mup.password, **extra}


@pytest.fixture
def backend(mup):
    backend = MupBackend(settings(mup), COMPONENTS)
    backend.api.backoff = 0.01
    yield backend
    backend.api.close()


def member(username, role="PROJECT.MEMBER", state="OK", email=None):
    return {
        "uuid": f"uuid-{username}",
        "username": username,
        "full_name": f"{username.title()} Tester",
        "email": email or f"{username}@example.org",
        "role": role,
        "offering_user_username": username,
        "offering_user_state": state,
    }


def resource(
    uuid="0f1e2d3c4b5a69788796a5b4c3d2e1f0", project="Climate / 2024.00042.CPCA", **limits
):
    return WaldurResource(
        uuid=uuid,
        name="climate-alloc",
        project_uuid="p-1",
        project_name=project,
        limits=limits or {"cpu": 5, "storage": 200},
    )


FUNDING = ("research_fields", "agency", "funding_agency", "funding_agency_grant", "biography")
"""What a registration tells MUP of the user's research and funding."""

TEAM = {"team": [member("carol", "PROJECT.MANAGER"), member("dave")]}


def create(backend, target=None, context=TEAM):
    target = target or resource()
    return backend.create_resource_with_id(target, backend.resource_backend_id(target), context)


def test_grant_number_is_the_second_part_of_the_project_name():
    assert grant_number("Climate modelling / 2024.00042.CPCA") == "2024.00042.CPCA"
    assert grant_number("A/B/C") == "B"
    with pytest.raises(BackendError, match="names no grant number"):
        grant_number("Protein folding")


def test_settings_and_components_are_checked_at_construction(mup):
    with pytest.raises(ConfigurationError, match="password"):
        MupBackend({"api_url": mup.api_url, "username": "x"}, COMPONENTS)
    usage = {**COMPONENTS, "gpu": {**COMPONENTS["cpu"], "accounting_type": "usage"}}
    with pytest.raises(ConfigurationError, match="every component must be 'limit'"):
        MupBackend(settings(mup), usage)


def test_create_makes_the_project_with_its_pi_and_one_allocation_per_component(mup, backend):
    info = create(backend)
    assert info.backend_id == "alloc_0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    project = mup.portal.project_by_grant("2024.00042.CPCA")
    assert (project["title"], project["pi"], project["active"]) == (
        "Climate",
        "carol@example.org",
        True,
    )
    allocations = {a["identifier"]: a for a in mup.portal.list_allocations(project["id"])}
    cpu, storage = allocations[f"{info.backend_id}_cpu"], allocations[f"{info.backend_id}_storage"]
    assert (cpu["type"], cpu["size"], cpu["active"]) == ("Deucalion x86_64", 5000, True)
    assert (storage["type"], storage["size"]) == ("storage", 200)
    assert info.backend_metadata == {
        "mup_project_id": project["id"],
        "mup_allocations": {"cpu": cpu["id"], "storage": storage["id"]},
    }
    carol = mup.portal.user("username", "carol")
    assert (carol["first_name"], carol["last_name"], carol["country"]) == (
        "Carol",
        "Tester",
        "Portugal",
    )
    # Where Waldur knows nothing of the user, upstream's defaults, so a switched site registers
    # users as it did.
    assert (carol["affiliated_institution"], carol["biography"]) == (
        "Research Institution",
        "Researcher using Waldur site agent for resource allocation",
    )
    assert backend.pull_resource(resource().with_backend_id(info.backend_id)).users == ["carol"]
    with pytest.raises(BackendError, match="already exists"):
        create(backend)


def test_new_projects_and_users_carry_the_configured_defaults(mup):
    configured = MupBackend(
        settings(
            mup,
            default_research_field=4,
            default_agency="ERC",
            default_storage_limit=250,
            default_user_biography="Climate modeller, registered from Waldur.",
            user_funding_agency_prefix="PT-GRANT-",
        ),
        COMPONENTS,
    )
    create(configured)
    project = mup.portal.project_by_grant("2024.00042.CPCA")
    assert (project["science_field"], project["agency"], project["max_storage"]) == (4, "ERC", 250)
    carol = mup.portal.user("username", "carol")  # the PI, registered by the order
    assert {k: carol[k] for k in FUNDING} == {
        "research_fields": [4],
        "agency": "ERC",
        "funding_agency": "ERC",
        "funding_agency_grant": "PT-GRANT-CAROL",
        "biography": "Climate modeller, registered from Waldur.",
    }
    configured.api.close()


def test_a_second_resource_of_the_project_shares_its_mup_project(mup, backend):
    first = create(backend)
    second = create(backend, resource(uuid="aa" * 16, cpu=1, storage=1))
    assert len(mup.portal.list_projects()) == 1
    assert backend.get_resource_limits(second.backend_id) == {"cpu": 1, "storage": 1}
    assert backend.get_resource_limits(first.backend_id) == {"cpu": 5, "storage": 200}


def test_orders_that_cannot_be_carried_out_say_why(mup, backend):
    with pytest.raises(BackendError, match="'Protein folding' names no grant number"):
        create(backend, resource(project="Protein folding"))
    with pytest.raises(BackendNotReadyError, match="no manager with an active account"):
        create(backend, context={"team": [member("carol", "PROJECT.MANAGER", state="Creating")]})
    bad_pi = {"team": [member("erin", "PROJECT.MANAGER", email="erin at example.org")]}
    with pytest.raises(BackendError) as refused:
        create(backend, context=bad_pi)
    assert str(refused.value) == (
        "MUP refused POST /api/user/ (HTTP 400): email: Enter a valid email address."
    )
    assert mup.portal.list_projects() == []


def test_team_members_are_registered_added_deactivated_and_added_again(mup, backend):
    backend_id = create(backend).backend_id
    details = {
        "user_emails": {"dave": "dave@example.org"},
        "user_attributes": {"dave": {"full_name": "Dave Dahl", "email": "dave@example.org"}},
    }
    assert backend.add_users_to_resource(backend_id, {"dave", "ghost"}, **details) == {"dave"}
    assert mup.portal.user("email", "dave@example.org")["last_name"] == "Dahl"
    assert backend.mup.list_resource_users(backend_id) == ["carol", "dave"]
    assert backend.remove_users_from_resource(backend_id, {"dave"}) == ["dave"]
    project_id = backend.mup.project_of(backend_id)
    active = {m["username"]: m["active"] for m in mup.portal.list_members(project_id)}
    assert active == {"carol": True, "dave": False}, "MUP keeps the membership, inactive"
    assert backend.add_user(backend_id, "dave", **details) is True
    assert backend.add_user(backend_id, "dave", **details) is False
    assert len(mup.portal.list_members(project_id)) == 2


def test_a_user_awaiting_approval_joins_once_approved():
    from waldur_site_agent_actors.simulators.mup import MupSimulator

    with MupSimulator(auto_approve_users=False) as mup:
        backend = MupBackend(settings(mup), COMPONENTS)
        with pytest.raises(BackendNotReadyError, match="awaits approval"):
            create(backend)
        mup.portal.approve_user("carol@example.org")
        backend_id = create(backend).backend_id
        emails = {"user_emails": {"dave": "dave@example.org"}}
        assert backend.add_users_to_resource(backend_id, {"dave"}, **emails) == set()
        mup.portal.approve_user("dave@example.org")
        assert backend.add_users_to_resource(backend_id, {"dave"}, **emails) == {"dave"}


def test_limits_are_set_in_mup_units_and_read_back_in_waldur_units(mup, backend):
    backend_id = create(backend).backend_id
    backend.set_resource_limits(backend_id, {"cpu": 7.5, "unknown": 3})
    sizes = {a["identifier"]: a["size"] for a in mup.portal.allocations.values()}
    assert sizes[f"{backend_id}_cpu"] == 7500
    assert backend.get_resource_limits(backend_id) == {"cpu": 7.5, "storage": 200}


def test_usage_comes_per_allocation_and_user_in_waldur_units(mup, backend):
    backend_id = create(backend).backend_id
    mup.portal.record_usage(f"{backend_id}_cpu", "carol", 1500)
    mup.portal.record_usage(f"{backend_id}_cpu", "dave", 2700)
    mup.portal.record_usage(f"{backend_id}_storage", "carol", 40)
    report = backend.get_usage_report([backend_id, "alloc_unknown"])
    assert report[backend_id] == {
        TOTAL_ACCOUNT_USAGE: {"cpu": 4, "storage": 40},
        "carol": {"cpu": 2, "storage": 40},
        "dave": {"cpu": 3},
    }
    assert report["alloc_unknown"] == {TOTAL_ACCOUNT_USAGE: {"cpu": 0.0, "storage": 0.0}}


def test_terminate_deactivates_allocations_then_the_emptied_project(mup, backend):
    first = resource()
    second = resource(uuid="bb" * 16)
    for target in (first, second):
        create(backend, target)
    project = mup.portal.project_by_grant("2024.00042.CPCA")
    backend.delete_resource(first.with_backend_id(backend.resource_backend_id(first)))
    assert mup.portal.project(project["id"])["active"] is True, "the second resource still uses it"
    assert backend.pull_resource(first.with_backend_id(backend.resource_backend_id(first))) is None
    backend.delete_resource(second.with_backend_id(backend.resource_backend_id(second)))
    assert mup.portal.project(project["id"])["active"] is False
    assert not any(a["active"] for a in mup.portal.allocations.values())
    # Terminating again is harmless; ordering again brings the same allocations back.
    backend.delete_resource(second.with_backend_id(backend.resource_backend_id(second)))
    create(backend, second)
    assert mup.portal.project(project["id"])["active"] is True
    assert len(mup.portal.allocations) == 4


def test_soft_delete_keeps_the_allocations_active_with_size_zero(mup):
    soft = MupBackend(settings(mup, soft_delete=True), COMPONENTS)
    target = resource()
    create(soft, target)
    kept = target.with_backend_id(soft.resource_backend_id(target))
    assert soft.delete_resource(kept) is None
    sizes = {a["type"]: (a["size"], a["active"]) for a in mup.portal.allocations.values()}
    assert sizes == {"Deucalion x86_64": (0, True), "storage": (0, True)}
    assert mup.portal.project_by_grant("2024.00042.CPCA")["active"] is True
    soft.apply_resource_limits(kept)
    assert soft.get_resource_limits(kept.backend_id) == {"cpu": 5, "storage": 200}
    soft.api.close()


def test_profiles_become_mup_terms_and_missing_ones_the_defaults(mup):
    s = MupSettings(**settings(mup))
    assert [profiles.gender(g) for g in (1, 2, 0, 9, 7, "male", "FEMALE", "unknown", "x", "")] == [
        "Male",
        "Female",
        "Don't want to reply",
        "Don't want to reply",
        "Other",
        "Male",
        "Female",
        "Don't want to reply",
        "Other",
        None,
    ]
    assert profiles.country("de") == "Germany" and profiles.country("XX") == "XX"
    assert profiles.institution_type("urn:schac:homeOrganizationType:eu:company") == "Industry"
    assert profiles.institution_type("hospital") == "Other"
    assert profiles.birth_year("1990-12-31") == 1990 and profiles.birth_year("n/a") is None
    bare = profiles.registration("dave", "dave@example.org", {"full_name": "Dave Dahl"}, s)
    assert (bare["first_name"], bare["last_name"]) == ("Dave", "Dahl")
    assert (bare["gender"], bare["country"], bare["year_of_birth"]) == (
        s.default_user_gender,
        s.default_user_country,
        s.default_user_birth_year,
    )


def test_a_myaccessid_is_set_once(mup, backend):
    create(backend)
    target = resource()
    backend_id = backend.resource_backend_id(target)
    details = {"user_emails": {"erin": "erin@example.org"}, "user_cuids": {"erin": "erin@idp"}}
    assert backend.add_user(backend_id, "erin", **details) is True
    assert [k["key"] for k in mup.portal.user("username", "erin")["user_ssh_keys"]] == ["erin@idp"]
    backend.remove_user(backend_id, "erin")
    assert backend.add_user(backend_id, "erin", **details) is True
    assert len(mup.portal.user("username", "erin")["user_ssh_keys"]) == 1, "set once"
    erin = mup.portal.user("username", "erin")["id"]
    assert [r for r in mup.requests if r[1] == f"/api/user/{erin}/myaccessid"] == [
        ("POST", f"/api/user/{erin}/myaccessid", 200)
    ]


def test_reads_are_retried_through_a_passing_outage_writes_are_not(mup, backend):
    mup.fail_next(503, times=2)
    assert backend.ping() is True
    statuses = [s for _, _, s in mup.requests]
    assert statuses == [503, 503, 200]
    mup.fail_next(502)
    with pytest.raises(MupUnavailable, match="HTTP 502"):
        backend.api.register_user({"username": "x"})
    assert mup.requests[-1] == ("POST", "/api/user/", 502)


def test_a_dead_portal_is_transient_and_wrong_credentials_are_not(mup):
    down = MupBackend({**settings(mup), "api_url": "http://127.0.0.1:9/"}, COMPONENTS)
    down.api.backoff = 0.01
    with pytest.raises(BackendNotReadyError, match="did not answer"):
        down.ping(raise_exception=True)
    assert down.ping() is False
    wrong = MupBackend({**settings(mup), "password": "Wrong-Secret-123"}, COMPONENTS)
    with pytest.raises(BackendError) as refused:
        wrong.ping(raise_exception=True)
    message = str(refused.value)
    assert message == (
        f"MUP refused the credentials of API user {mup.username!r}: Invalid username/password."
    )
    assert "Wrong-Secret-123" not in message and mup.password not in message
