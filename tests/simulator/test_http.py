"""The API conventions over plain HTTP: auth, trailing slashes, pagination, fields, errors."""

import re

import requests


def orders_for(staff, info, count):
    for i in range(count):
        body = {
            "offering": info["offerings"][0]["url"],
            "project": info["projects"][i % 2]["url"],
            "limits": {"cpu": 10 + i},
            "attributes": {"name": f"acc{i}"},
        }
        assert staff.post("marketplace-orders/", body).status_code == 201


def links(response):
    return dict(
        (rel, url) for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', response.headers["Link"])
    )


def test_authentication(sim):
    url = sim.api_url + "users/me/"
    missing = requests.get(url, timeout=5)
    assert missing.status_code == 401
    assert missing.json() == {"detail": "Authentication credentials were not provided."}
    assert missing.headers["WWW-Authenticate"] == "Token"
    wrong = requests.get(url, headers={"Authorization": "Token nope"}, timeout=5)
    assert (wrong.status_code, wrong.json()) == (401, {"detail": "Invalid token."})
    lower = requests.get(url, headers={"Authorization": f"token {sim.staff_token}"}, timeout=5)
    assert lower.status_code == 200 and lower.json()["is_staff"] is True
    spaces = requests.get(url, headers={"Authorization": "Token a b"}, timeout=5)
    assert spaces.json() == {
        "detail": "Invalid token header. Token string should not contain spaces."
    }
    bare = requests.get(url, headers={"Authorization": "Token"}, timeout=5)
    assert bare.json() == {"detail": "Invalid token header. No credentials provided."}
    assert requests.get(sim.api_url + "version/", timeout=5).status_code == 200


def test_roles_forbid_and_hide(sim, staff, info, user_api):
    orders_for(staff, info, 1)
    order = staff.get("marketplace-orders/").json()[0]
    alice = user_api("alice")  # project admin: sees the order, may not act as provider
    answer = alice.post(f"marketplace-orders/{order['uuid']}/approve_by_provider/")
    assert answer.status_code == 403
    assert answer.json() == {"detail": "You do not have permission to perform this action."}
    carol = user_api("carol")  # another project: the order does not exist for her
    hidden = carol.get(f"marketplace-orders/{order['uuid']}/")
    assert hidden.status_code == 404
    assert hidden.json() == {"detail": "No Order matches the given query."}
    assert carol.get("marketplace-orders/").json() == []
    assert alice.get("marketplace-provider-resources/").json() == []
    assert alice.post("customers/", {"name": "x"}).status_code == 403


def test_trailing_slash_and_unknown_routes(sim, staff):
    no_slash = staff.get("marketplace-orders")
    assert no_slash.status_code == 404
    assert no_slash.headers["Content-Type"].startswith("text/html")
    assert staff.get("no-such-thing/").status_code == 404
    method = staff.send("DELETE", "marketplace-orders/")
    assert method.status_code == 405
    assert method.json() == {"detail": 'Method "DELETE" not allowed.'}


def test_pagination_walk(sim, staff, info):
    orders_for(staff, info, 23)
    first = staff.get("marketplace-orders/", state="pending-provider")
    assert first.status_code == 200
    assert first.headers["X-Result-Count"] == "23"
    assert len(first.json()) == 10
    rels = links(first)
    assert list(rels) == ["first", "next", "last"]
    assert "page=" not in rels["first"] and "state=pending-provider" in rels["first"]
    assert rels["last"].endswith("page=3")
    seen = [o["uuid"] for o in first.json()]
    url = rels["next"]
    while url:
        page = staff.get(url)
        seen += [o["uuid"] for o in page.json()]
        url = links(page).get("next")
        assert "prev" in links(page)
    assert len(seen) == len(set(seen)) == 23
    second = staff.get("marketplace-orders/", page=2)
    assert "page=" not in links(second)["prev"]
    big = staff.get("marketplace-orders/", page_size=1000)
    assert len(big.json()) == 23 and list(links(big)) == ["first", "last"]
    assert len(staff.get("marketplace-orders/", page_size=0).json()) == 10
    for bad in ("4", "0", "abc"):
        answer = staff.get("marketplace-orders/", page=bad)
        assert (answer.status_code, answer.json()) == (404, {"detail": "Invalid page."})
    assert len(staff.get("marketplace-orders/", page="last").json()) == 3
    none = staff.get("marketplace-orders/", state="done")
    assert none.json() == [] and none.headers["X-Result-Count"] == "0"
    assert list(links(none)) == ["first", "last"]


def test_page_size_is_capped_at_300(sim, staff, info):
    orders_for(staff, info, 1)
    answer = staff.get("marketplace-orders/", page_size=301)
    assert answer.status_code == 200


def test_field_selection(sim, staff, info):
    orders_for(staff, info, 2)
    rows = staff.get("marketplace-orders/", field=["uuid", "state", "bogus"]).json()
    assert all(set(r) == {"uuid", "state"} for r in rows)
    everything = staff.get("marketplace-orders/", field="bogus").json()
    assert "limits" in everything[0]


def test_filter_errors(sim, staff):
    bad = staff.get("marketplace-orders/", offering_uuid="not-a-uuid")
    assert bad.status_code == 400
    assert bad.json() == {"offering_uuid": ["Enter a valid UUID."]}
    state = staff.get("marketplace-orders/", state="pending provider")
    assert state.status_code == 400
    assert state.json() == {
        "state": ["Select a valid choice. pending provider is not one of the available choices."]
    }
    assert staff.get("marketplace-orders/not-a-uuid/").json() == {
        "detail": "No Order matches the given query."
    }
    when = staff.get("marketplace-orders/", modified_before="yesterday")
    assert when.status_code == 400


def test_validation_errors(sim, staff, info):
    missing = staff.post("marketplace-orders/", {"offering": info["offerings"][0]["url"]})
    assert missing.json() == {"project": ["This field is required."]}
    provider_url = info["offerings"][0]["provider_url"]
    wrong = staff.post(
        "marketplace-orders/", {"offering": provider_url, "project": info["projects"][0]["url"]}
    )
    assert wrong.json() == {"offering": ["Invalid hyperlink - Incorrect URL match."]}
    limits = staff.post(
        "marketplace-orders/",
        {
            "offering": info["offerings"][0]["url"],
            "project": info["projects"][0]["url"],
            "limits": {"gpu": 1},
        },
    )
    assert limits.json() == {"limits": ["Invalid types: gpu"]}
    broken = staff.session.post(
        staff.url("marketplace-orders/"),
        data="{",
        headers={"Content-Type": "application/json"},
        timeout=5,
    )
    assert broken.status_code == 400 and "JSON parse error" in broken.json()["detail"]


def test_order_limits_are_taken_for_limit_and_prepaid_one_time_components(provider, staff, info):
    """Mastermind's `get_components_map`: a limit for a component billed by limit, or one-time
    and prepaid; any other component's limit is refused by name."""
    offering = info["offerings"][0]
    made = f"marketplace-provider-offerings/{offering['uuid']}/create_offering_component/"
    for component in (
        {"type": "hours", "name": "Hours", "billing_type": "one", "is_prepaid": True},
        {"type": "setup", "name": "Setup", "billing_type": "one"},
    ):
        assert provider.post(made, component).status_code == 201

    def order(limits):
        project = info["projects"][0]["url"]
        return staff.post(
            "marketplace-orders/",
            {"offering": offering["url"], "project": project, "limits": limits},
        )

    taken = order({"cpu": 5, "hours": 12})
    assert taken.status_code == 201, taken.text
    assert taken.json()["limits"] == {"cpu": 5, "hours": 12}
    assert order({"setup": 1}).json() == {"limits": ["Invalid types: setup"]}
    assert order({"gpu": 1}).json() == {"limits": ["Invalid types: gpu"]}


def test_modified_before_filter(sim, staff, info):
    orders_for(staff, info, 2)
    assert (
        staff.get("marketplace-orders/", modified_before="2000-01-01T00:00:00+00:00").json() == []
    )
    later = staff.get("marketplace-orders/", modified_before="2999-01-01T00:00:00Z").json()
    assert len(later) == 2


def test_offering_type_405_comes_after_the_state_409():
    from tests.simulator.conftest import Api
    from waldur_site_agent_actors.simulators.waldur import WaldurSimulator
    from waldur_site_agent_actors.simulators.waldur.seed import default_scenario

    spec = default_scenario()
    spec["offerings"][0]["type"] = "Marketplace.Basic"
    with WaldurSimulator(seed=spec) as sim:
        info = sim.summary()
        staff, provider = Api(sim, sim.staff_token), Api(sim, sim.provider_token)
        body = {"offering": info["offerings"][0]["url"], "project": info["projects"][0]["url"]}
        order = staff.post("marketplace-orders/", body).json()
        early = provider.post(f"marketplace-orders/{order['uuid']}/set_state_done/")
        assert early.status_code == 409
        executing = provider.post(f"marketplace-orders/{order['uuid']}/set_state_executing/")
        assert executing.status_code == 405
        assert executing.json() == {
            "detail": "Method \"The order's offering with Marketplace.Basic type does not "
            'support this action" not allowed.'
        }
        provider.post(f"marketplace-orders/{order['uuid']}/approve_by_provider/")
        assert (
            provider.post(f"marketplace-orders/{order['uuid']}/set_state_done/").status_code == 200
        )
        # only orders of Marketplace.Slurm offerings are announced
        assert [e for e in sim.emitted if e["object_type"] == "order"] == []


def test_service_and_offering_managers_act_as_the_provider():
    from tests.simulator.conftest import Api
    from waldur_site_agent_actors.simulators.waldur import WaldurSimulator
    from waldur_site_agent_actors.simulators.waldur.seed import default_scenario

    spec = default_scenario()
    spec["users"] += [{"username": "sm"}, {"username": "om"}]
    spec["customers"][0]["service_managers"] = ["sm"]
    spec["offerings"][0]["managers"] = ["om"]
    with WaldurSimulator(seed=spec) as sim:
        info = sim.summary()
        staff = Api(sim, sim.staff_token)
        body = {"offering": info["offerings"][0]["url"], "project": info["projects"][0]["url"]}
        first, second = (staff.post("marketplace-orders/", body).json() for _ in range(2))
        for username, order in (("sm", first), ("om", second)):
            api = Api(sim, sim.token(username))
            answer = api.post(f"marketplace-orders/{order['uuid']}/approve_by_provider/")
            assert answer.status_code == 200, (username, answer.text)
        outsider = Api(sim, sim.token("dave"))
        assert outsider.get("marketplace-provider-resources/").json() == []


def test_empty_filter_values_filter_nothing(sim, staff, info):
    orders_for(staff, info, 2)
    assert len(staff.get("marketplace-orders/", state="", offering_uuid="").json()) == 2
    assert len(staff.get("marketplace-resources/", backend_id="", name="").json()) == 2
