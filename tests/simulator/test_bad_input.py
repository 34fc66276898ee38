"""What a careless or hostile client sends, refused or made unique as Mastermind does, and the
fault that makes the simulator answer what a non-conforming server would."""

import json

import pytest


def order(api, info, name, limits=None):
    body = {
        "offering": info["offerings"][0]["url"],
        "project": info["projects"][0]["url"],
        "attributes": {"name": name},
        "limits": limits or {"cpu": 1},
    }
    return api.post("marketplace-orders/", body)


def slug_of(api, answer):
    assert answer.status_code == 201, answer.text
    uuid = answer.json()["marketplace_resource_uuid"]
    return api.get(f"marketplace-resources/{uuid}/").json()["slug"]


def test_resource_slugs_are_unique_whatever_the_names(staff, info):
    shell = [slug_of(staff, order(staff, info, name)) for name in ("$(touch x)", "`touch x`")]
    assert shell == ["touch-x", "touch-x-1"]
    long = [slug_of(staff, order(staff, info, "n" * 50 + tail * 250)) for tail in "ab"]
    assert long == ["n" * 50, "n" * 48 + "-1"]
    assert all(len(slug) <= 50 for slug in long)
    chinese = {slug_of(staff, order(staff, info, name)) for name in ("数据", "计算", "存储")}
    assert len(chinese) == 3


def test_project_slugs_are_unique_too(staff, info):
    customer = staff.get(info["projects"][0]["url"]).json()["customer"]
    slugs = [
        staff.post("projects/", {"name": "Climate", "customer": customer}).json()["slug"]
        for _ in range(2)
    ]
    assert slugs == ["climate", "climate-1"]


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_limits_that_are_not_numbers_are_refused_as_json(staff, info, value):
    body = json.dumps(
        {
            "offering": info["offerings"][0]["url"],
            "project": info["projects"][0]["url"],
            "limits": {"cpu": "__VALUE__"},
        }
    ).replace('"__VALUE__"', value)
    answer = staff.session.post(
        staff.url("marketplace-orders/"),
        data=body,
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert answer.status_code == 400
    assert "Out of range float values are not JSON compliant" in answer.json()["detail"]


def test_an_infinite_limit_is_refused_by_the_limits_field(staff, provider, info):
    # 1e999 is valid JSON, read as infinity: the serializer refuses it with a field message.
    body = (
        f'{{"offering": "{info["offerings"][0]["url"]}", '
        f'"project": "{info["projects"][0]["url"]}", "limits": {{"cpu": 1e999}}}}'
    )
    answer = staff.session.post(
        staff.url("marketplace-orders/"),
        data=body,
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert answer.status_code == 400
    assert answer.json() == {"limits": ["Invalid value for cpu: inf"]}
    uuid = order(staff, info, "fine", {"cpu": 2}).json()["marketplace_resource_uuid"]
    update = provider.session.post(
        provider.url(f"marketplace-provider-resources/{uuid}/set_limits/"),
        data='{"limits": {"cpu": 1e999}}',
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert update.status_code == 400 and "limits" in update.json()


def test_a_rewrite_fault_answers_what_is_not_quite_json(sim, staff, info):
    created = order(staff, info, "poison", {"cpu": 7}).json()
    detail = "GET /api/marketplace-orders/{uuid}/"
    sim.add_fault(endpoint=detail, rewrite={'"cpu": 7': '"cpu": NaN'})
    raw = staff.get(f"marketplace-orders/{created['uuid']}/").text
    assert '"cpu": NaN' in raw
    listed = staff.get("marketplace-orders/").text
    assert '"cpu": 7' in listed  # another endpoint: untouched
