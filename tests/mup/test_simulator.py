"""The MUP stand-in answers like the portal: auth failures, DRF error bodies, and state."""

import base64

import pytest
import requests


def call(mup, method, path, body=None, auth=True, headers=None):
    """One request; `auth` True uses the right account, a (user, password) pair another."""
    sent = dict(headers or {})
    if auth:
        user, password = (mup.username, mup.password) if auth is True else auth
        sent["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    response = requests.request(
        method, mup.api_url + path.lstrip("/"), json=body, headers=sent, timeout=5
    )
    return response.status_code, response.json(), response.headers


def new_user(mup, username="aandersen", email="alice@example.org", **extra):
    body = {
        "username": username,
        "email": email,
        "first_name": "Alice",
        "last_name": "Andersen",
        "research_fields": [1],
        **extra,
    }
    status, user, _ = call(mup, "POST", "/api/user/", body)
    assert status == 201, user
    return user


def new_project(mup, pi="alice@example.org", grant="2024.00042.CPCA", **extra):
    body = {
        "title": "Climate modelling",
        "pi": pi,
        "science_field": 1,
        "start_date": "2025-01-01",
        "end_date": "2026-01-01",
        "agency": "FCT",
        "grant_number": grant,
        "max_storage": 1000,
        "ai_included": False,
        **extra,
    }
    status, project, _ = call(mup, "POST", "/api/projects/add/", body)
    assert status == 201, project
    return project


def test_requests_without_or_with_wrong_credentials_get_drf_401s(mup):
    status, body, headers = call(mup, "GET", "/api/research-fields/list/", auth=False)
    assert (status, body) == (401, {"detail": "Authentication credentials were not provided."})
    assert headers["WWW-Authenticate"] == 'Basic realm="api"'
    status, body, _ = call(mup, "GET", "/api/research-fields/list/", auth=(mup.username, "nope"))
    assert (status, body) == (401, {"detail": "Invalid username/password."})
    status, body, _ = call(
        mup, "GET", "/api/projects/list/", auth=False, headers={"Authorization": "Basic !!!"}
    )
    assert body == {"detail": "Invalid basic header. Credentials not correctly base64 encoded."}
    status, body, _ = call(
        mup, "GET", "/api/projects/list/", auth=False, headers={"Authorization": "Basic"}
    )
    assert body == {"detail": "Invalid basic header. No credentials provided."}
    assert [s for _, _, s in mup.requests] == [401, 401, 401, 401]


def test_unknown_paths_methods_and_objects(mup):
    assert call(mup, "GET", "/api/projects/view/99")[:2] == (404, {"detail": "Not found."})
    assert call(mup, "GET", "/api/nothing/here/")[:2] == (404, {"detail": "Not found."})
    status, body, headers = call(mup, "DELETE", "/api/projects/list/")
    assert (status, body) == (405, {"detail": 'Method "DELETE" not allowed.'})
    assert headers["Allow"] == "GET"
    status, body, _ = call(mup, "POST", "/api/projects/add/", [1, 2])
    assert body == {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}


def test_user_registration_validates_like_drf_and_is_found_by_email_and_username(mup):
    status, body, _ = call(mup, "POST", "/api/user/", {"username": "bad name!", "email": "x"})
    assert status == 400
    assert body == {
        "username": [
            "Enter a valid username. This value may contain only letters, numbers, "
            "and @/./+/-/_ characters."
        ],
        "email": ["Enter a valid email address."],
        "first_name": ["This field is required."],
        "last_name": ["This field is required."],
    }
    user = new_user(mup, salutation="Dr.", country="Portugal")
    assert user["is_approved"] is True and user["country"] == "Portugal"
    assert call(mup, "GET", "/api/user/by-email/ALICE@example.org")[1]["id"] == user["id"]
    assert call(mup, "GET", "/api/user/by-username/aandersen")[1]["id"] == user["id"]
    assert call(mup, "GET", "/api/user/by-username/nobody")[0] == 404
    status, body, _ = call(
        mup,
        "POST",
        "/api/user/",
        {
            "username": "aandersen",
            "email": "alice@example.org",
            "first_name": "A",
            "last_name": "B",
            "research_fields": [42],
        },
    )
    assert body == {
        "username": ["A user with that username already exists."],
        "email": ["user with this email already exists."],
        "research_fields": ['Invalid pk "42" - object does not exist.'],
    }


def test_project_creation_rules_and_its_life_cycle(mup):
    new_user(mup)
    status, body, _ = call(
        mup,
        "POST",
        "/api/projects/add/",
        {
            "title": "T",
            "pi": "nobody@example.org",
            "science_field": 99,
            "start_date": "2025-02-01",
            "end_date": "2025-01-01",
            "agency": "FCT",
            "grant_number": "G-1",
        },
    )
    assert status == 400
    assert body == {
        "pi": ["No user with this email is registered in MUP."],
        "science_field": ['Invalid pk "99" - object does not exist.'],
        "non_field_errors": ["End date must be after start date."],
    }
    project = new_project(mup)
    assert project["active"] is False and project["grant_number"] == "2024.00042.CPCA"
    assert call(mup, "GET", "/api/projects/by-grant/2024.00042.CPCA")[1] == project
    assert call(mup, "GET", "/api/projects/by-grant/unknown")[0] == 404
    status, body, _ = call(
        mup,
        "POST",
        "/api/projects/add/",
        {
            **{
                k: project[k]
                for k in (
                    "title",
                    "pi",
                    "science_field",
                    "start_date",
                    "end_date",
                    "agency",
                    "grant_number",
                )
            }
        },
    )
    assert body == {"grant_number": ["project with this grant number already exists."]}
    pid = project["id"]
    assert call(mup, "PUT", f"/api/projects/{pid}/activate", {})[1]["active"] is True
    assert call(mup, "GET", f"/api/projects/view/{pid}")[1]["active"] is True
    assert call(mup, "PUT", f"/api/projects/{pid}/deactivate", {})[1]["active"] is False
    # The PI is the first member.
    (member,) = call(mup, "GET", f"/api/projects/{pid}/members/list")[1]
    assert (member["username"], member["email"], member["active"]) == (
        "aandersen",
        "alice@example.org",
        True,
    )


def test_allocations_validate_type_identifier_and_size_and_report_usage(mup):
    new_user(mup)
    pid = new_project(mup)["id"]
    base = f"/api/projects/{pid}/allocations"
    body = {
        "type": "GPU partition",
        "identifier": "alloc_x_cpu",
        "size": -1,
        "used": 0,
        "active": True,
        "project": pid,
    }
    status, errors, _ = call(mup, "POST", f"{base}/add", body)
    assert (status, errors) == (
        400,
        {
            "type": ['"GPU partition" is not a valid choice.'],
            "size": ["Ensure this value is greater than or equal to 0."],
        },
    )
    status, allocation, _ = call(
        mup, "POST", f"{base}/add", {**body, "type": "Deucalion x86_64", "size": 500}
    )
    assert status == 201
    assert allocation == {
        "id": allocation["id"],
        "project": pid,
        "type": "Deucalion x86_64",
        "identifier": "alloc_x_cpu",
        "size": 500,
        "used": 0,
        "active": True,
    }
    status, errors, _ = call(mup, "POST", f"{base}/add", {**body, "type": "storage", "size": 1})
    assert errors == {"identifier": ["allocation with this identifier already exists."]}
    aid = allocation["id"]
    edited = call(mup, "PUT", f"{base}/edit/{aid}", {**allocation, "size": 800, "used": 999})
    assert edited[1]["size"] == 800 and edited[1]["used"] == 0, "clients cannot set usage"
    assert call(mup, "GET", "/api/projects/allocations/alloc_x_cpu")[1]["size"] == 800
    assert call(mup, "GET", f"{base}/list")[1] == [edited[1]]
    mup.portal.record_usage("alloc_x_cpu", "aandersen", 12.5)
    mup.portal.record_usage("alloc_x_cpu", "bberg", 7.5)
    assert call(mup, "GET", f"/api/projects/{pid}/allocations/{aid}/usage")[1] == {
        "total": 20.0,
        "users": {"aandersen": 12.5, "bberg": 7.5},
    }
    assert call(mup, "GET", f"{base}/view/{aid}")[1]["used"] == 20.0
    assert call(mup, "GET", f"/api/projects/{pid + 100}/allocations/{aid}/usage")[0] == 404


def test_members_are_added_once_deactivated_and_reactivated(mup):
    new_user(mup)
    bob = new_user(mup, "bberg", "bob@example.org")
    pid = new_project(mup)["id"]
    add = {"user_id": bob["id"], "email": bob["email"], "active": True}
    status, member, _ = call(mup, "POST", f"/api/projects/{pid}/members/add", add)
    assert status == 201 and member["username"] == "bberg"
    status, body, _ = call(mup, "POST", f"/api/projects/{pid}/members/add", add)
    assert body == {"non_field_errors": ["User is already a member of this project."]}
    status, body, _ = call(mup, "POST", f"/api/projects/{pid}/members/add", {"user_id": 999})
    assert body == {"user_id": ['Invalid pk "999" - object does not exist.']}
    toggle = f"/api/projects/{pid}/members/{member['id']}/toggle-status"
    assert call(mup, "PUT", toggle, {"active": False})[1]["active"] is False
    assert call(mup, "PUT", toggle, {"active": False})[1]["active"] is False, "sets, not flips"
    assert call(mup, "PUT", toggle, {})[1]["active"] is True, "no body: flips"
    actives = {
        m["username"]: m["active"] for m in call(mup, "GET", f"/api/projects/{pid}/members/list")[1]
    }
    assert actives == {"aandersen": True, "bberg": True}


def test_users_wait_for_approval_when_the_portal_says_so():
    from waldur_site_agent_actors.simulators.mup import MupSimulator

    with MupSimulator(auto_approve_users=False) as mup:
        user = new_user(mup)
        assert user["is_approved"] is False
        body = {
            "title": "T",
            "pi": user["email"],
            "science_field": 1,
            "start_date": "2025-01-01",
            "end_date": "2026-01-01",
            "agency": "FCT",
            "grant_number": "G",
        }
        errors = call(mup, "POST", "/api/projects/add/", body)[1]
        assert errors == {"pi": ["The PI's account is pending approval."]}
        mup.portal.approve_user(user["email"])
        assert call(mup, "POST", "/api/projects/add/", body)[0] == 201


@pytest.mark.parametrize("status", [500, 503])
def test_injected_faults_answer_the_next_requests_whatever_they_are(mup, status):
    mup.fail_next(status, times=2)
    assert call(mup, "GET", "/api/projects/list/")[0] == status
    assert call(mup, "GET", "/api/projects/list/", auth=False)[0] == status
    assert call(mup, "GET", "/api/projects/list/")[:2] == (200, [])


def test_a_users_myaccessid_is_kept_among_their_ssh_keys_once(mup):
    user = new_user(mup, user_ssh_keys=[{"key": "forged"}])
    assert user["user_ssh_keys"] == [], "the portal keeps its own list"
    path = f"/api/user/{user['id']}/myaccessid"
    for _ in range(2):
        answer = call(mup, "POST", path, {"myaccessid": "alice@myaccessid.org"})
        assert answer[0] == 200
    status, shown, _ = call(mup, "GET", f"/api/user/view/{user['id']}")
    assert status == 200 and [k["key"] for k in shown["user_ssh_keys"]] == ["alice@myaccessid.org"]
    assert call(mup, "POST", path, {})[:2] == (400, {"myaccessid": ["This field is required."]})
    assert call(mup, "POST", "/api/user/999/myaccessid", {"myaccessid": "x"})[:2] == (
        404,
        {"detail": "Not found."},
    )
