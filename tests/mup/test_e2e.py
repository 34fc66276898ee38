"""The mup backend through the real agent service, between the Waldur and the MUP simulators."""

import copy

import pytest

from tests.e2e.harness import Agent, terminal, wait_for
from waldur_site_agent_actors.simulators.waldur import WaldurSimulator
from waldur_site_agent_actors.simulators.waldur.client import ConsumerClient

GRANT = "2024.00042.CPCA"
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
SEED = {
    "seed": "mup-e2e",
    "users": [
        {"username": "staff", "is_staff": True},
        {"username": "provider", "full_name": "Provider Admin"},
        {"username": "alice", "full_name": "Alice Andersen"},
        {"username": "bob", "full_name": "Bob Berg"},
        {"username": "carol", "full_name": "Carol Clark"},
        {"username": "dave", "full_name": "Dave Dahl", "email": "dave at example.org"},
    ],
    "customers": [
        {"name": "FCT Computing", "owners": ["provider"]},
        {"name": "University", "owners": []},
    ],
    "offerings": [
        {
            "name": "Deucalion via MUP",
            "customer": "FCT Computing",
            "plugin_options": {
                "username_generation_policy": "service_provider",
                "service_provider_can_create_offering_user": True,
            },
            "components": [
                {"type": k, "name": c["label"], "billing_type": "limit", **c}
                for k, c in COMPONENTS.items()
            ],
            "plans": [{"name": "Default", "quotas": {}, "prices": {"cpu": "1", "storage": "1"}}],
        }
    ],
    "projects": [
        {
            "name": f"Climate modelling / {GRANT}",
            "customer": "University",
            "members": [
                {"user": "alice", "role": "PROJECT.MANAGER"},
                {"user": "bob", "role": "PROJECT.MEMBER"},
            ],
        },
        {
            "name": "Protein folding / 2024.00077.CPCA",
            "customer": "University",
            "members": [{"user": "dave", "role": "PROJECT.MANAGER"}],
        },
        {
            "name": "Ocean currents",
            "customer": "University",
            "members": [{"user": "carol", "role": "PROJECT.MANAGER"}],
        },
    ],
}


@pytest.fixture
def world(mup):
    with WaldurSimulator(SEED, tick_interval=0) as sim:
        consumer = ConsumerClient(sim.api_url, sim.staff_token)
        summary = sim.summary()
        projects = {p["name"].split(" /")[0]: p for p in summary["projects"]}
        yield sim, consumer, summary["offerings"][0], projects
        consumer.close()


def agent_for(tmp_path, sim, offering, mup, components=COMPONENTS):
    config = {
        "name": "mup",
        "waldur_api_url": sim.api_url,
        "waldur_api_token": sim.provider_token,
        "waldur_offering_uuid": offering["uuid"],
        "backend_type": "mup",
        "backend_settings": {
            "api_url": mup.api_url,
            "username": mup.username,
            "password": mup.password,
        },
        "backend_components": components,
    }
    return Agent(tmp_path, [config]).start()


def finished(consumer, order_uuid, agent, what):
    return wait_for(lambda: terminal(consumer, order_uuid), what=what, log=agent.log)


def members(mup, project_id):
    return {m["username"]: m["active"] for m in mup.portal.list_members(project_id)}


def test_create_update_terminate_reach_done_with_mup_state_to_match(tmp_path, mup, world):
    sim, consumer, offering, projects = world
    agent = agent_for(tmp_path, sim, offering, mup)
    try:
        order = consumer.order(
            offering["url"], projects["Climate modelling"]["url"], {"cpu": 5, "storage": 100}
        )
        done = finished(consumer, order["uuid"], agent, "create")
        assert done["state"] == "done", done
        resource = consumer.resource(done["marketplace_resource_uuid"])
        backend_id = resource["backend_id"]
        assert backend_id == f"alloc_{resource['uuid'].replace('-', '')}"
        project = mup.portal.project_by_grant(GRANT)
        assert (project["title"], project["active"]) == ("Climate modelling", True)
        assert project["pi"] == "alice@example.org"
        allocations = {a["identifier"]: a for a in mup.portal.list_allocations(project["id"])}
        assert allocations[f"{backend_id}_cpu"]["size"] == 5000
        assert allocations[f"{backend_id}_storage"]["size"] == 100
        assert resource["backend_metadata"]["mup_project_id"] == project["id"]
        wait_for(
            lambda: members(mup, project["id"]) == {"aandersen": True, "bberg": True},
            what="the team in MUP",
            log=agent.log,
        )

        update = consumer.update_limits(resource["uuid"], {"cpu": 8, "storage": 100})
        assert finished(consumer, update, agent, "update")["state"] == "done"
        assert mup.portal.allocation_by_identifier(f"{backend_id}_cpu")["size"] == 8000

        terminate = consumer.terminate(resource["uuid"])
        assert finished(consumer, terminate, agent, "terminate")["state"] == "done"
        assert consumer.resource(resource["uuid"])["state"] == "Terminated"
        assert not any(a["active"] for a in mup.portal.list_allocations(project["id"]))
        assert mup.portal.project(project["id"])["active"] is False
    finally:
        assert agent.stop() == 0
    assert mup.password not in agent.log()


def test_usage_and_team_changes_reach_the_other_side(tmp_path, mup, world):
    sim, consumer, offering, projects = world
    climate = projects["Climate modelling"]
    agent = agent_for(tmp_path, sim, offering, mup)
    try:
        order = consumer.order(offering["url"], climate["url"], {"cpu": 5, "storage": 100})
        resource = consumer.resource(
            finished(consumer, order["uuid"], agent, "create")["marketplace_resource_uuid"]
        )
        backend_id = resource["backend_id"]
        mup.portal.record_usage(f"{backend_id}_cpu", "aandersen", 1500)
        mup.portal.record_usage(f"{backend_id}_cpu", "bberg", 2600)
        mup.portal.record_usage(f"{backend_id}_storage", "aandersen", 42)

        def usage():
            rows = consumer._call(
                "GET", "marketplace-component-usages/", resource_uuid=resource["uuid"]
            )
            return {row["type"]: float(row["usage"]) for row in rows}

        # MUP counts core-hours, Waldur k-core-hours (unit_factor 1000).
        wait_for(
            lambda: usage() == {"cpu": 4.0, "storage": 42.0}, what="usage in Waldur", log=agent.log
        )
        per_user = wait_for(
            lambda: {
                (r["username"], r["component_type"]): float(r["usage"])
                for r in consumer._call(
                    "GET", "marketplace-component-user-usages/", resource_uuid=resource["uuid"]
                )
            },
            what="per-user usage",
            log=agent.log,
        )
        assert per_user[("aandersen", "cpu")] == 2.0 and per_user[("bberg", "cpu")] == 3.0

        project_id = mup.portal.project_by_grant(GRANT)["id"]
        consumer.add_user(climate["uuid"], consumer.user_uuid("carol"))
        consumer.remove_user(climate["uuid"], consumer.user_uuid("bob"))
        wait_for(
            lambda: members(mup, project_id) == {"aandersen": True, "bberg": False, "cclark": True},
            what="carol registered and in, bob deactivated",
            log=agent.log,
        )
        assert mup.portal.user("username", "cclark")["email"] == "carol@example.org"
    finally:
        assert agent.stop() == 0
    assert mup.password not in agent.log()


def test_orders_mup_cannot_take_end_erred_with_a_readable_reason(tmp_path, mup, world):
    sim, consumer, offering, projects = world
    agent = agent_for(tmp_path, sim, offering, mup)
    try:
        refused = consumer.order(
            offering["url"], projects["Protein folding"]["url"], {"cpu": 1, "storage": 1}
        )
        erred = finished(consumer, refused["uuid"], agent, "the order MUP refuses")
        assert erred["state"] == "erred"
        assert erred["error_message"] == (
            "MUP refused POST /api/user/ (HTTP 400): email: Enter a valid email address."
        )
        unnamed = consumer.order(
            offering["url"], projects["Ocean currents"]["url"], {"cpu": 1, "storage": 1}
        )
        erred = finished(consumer, unnamed["uuid"], agent, "the order without a grant")
        assert erred["state"] == "erred"
        assert "'Ocean currents' names no grant number" in erred["error_message"]
        assert mup.portal.list_projects() == []
    finally:
        assert agent.stop() == 0
    assert mup.password not in agent.log()


PROFILE = {
    "gender": "female",
    "personal_title": "Prof.",
    "birth_date": "1979-05-02",
    "country_of_residence": "PT",
    "organization": "Universidade de Lisboa",
    "organization_type": "urn:schac:homeOrganizationType:int:university",
}


def test_registrations_carry_the_exposed_profile_and_the_myaccessid(tmp_path, mup, world):
    """The offering exposes its users' profiles: Alice's MUP registration (as the PI, at the
    order) says hers in MUP's terms. Both she and Bob, whom MUP knew already, get their Waldur
    username (their CUID) as MyAccessID."""
    sim, consumer, offering, projects = world
    with sim.state.lock:
        for username, profile in (("alice", PROFILE), ("bob", {**PROFILE, "gender": "male"})):
            user = sim.state.first("users", username=username)
            sim.state.put("users", {**user, **profile})
        stored = sim.state.get("offerings", offering["uuid"])
        stored["exposed_fields"] = ["username", "full_name", "email", *PROFILE]
        sim.state.put("offerings", stored)
        sim.state.commit()
    # Bob is known to MUP already, without a MyAccessID.
    mup.portal.create_user(
        {
            "username": "bberg",
            "email": "bob@example.org",
            "first_name": "Bob",
            "last_name": "Berg",
            "research_fields": [1],
        }
    )
    agent = agent_for(tmp_path, sim, offering, mup)
    try:
        order = consumer.order(
            offering["url"], projects["Climate modelling"]["url"], {"cpu": 1, "storage": 1}
        )
        assert finished(consumer, order["uuid"], agent, "create")["state"] == "done"
        project_id = mup.portal.project_by_grant(GRANT)["id"]
        wait_for(
            lambda: members(mup, project_id) == {"aandersen": True, "bberg": True},
            what="the team in MUP",
            log=agent.log,
        )
        alice = mup.portal.user("username", "aandersen")
        assert {
            k: alice[k]
            for k in (
                "first_name",
                "last_name",
                "salutation",
                "gender",
                "year_of_birth",
                "country",
                "type_of_institution",
                "affiliated_institution",
            )
        } == {
            "first_name": "Alice",
            "last_name": "Andersen",
            "salutation": "Prof.",
            "gender": "Female",
            "year_of_birth": 1979,
            "country": "Portugal",
            "type_of_institution": "Academia",
            "affiliated_institution": "Universidade de Lisboa",
        }
        for username, cuid in (("aandersen", "alice"), ("bberg", "bob")):
            keys = mup.portal.user("username", username)["user_ssh_keys"]
            assert [k["key"] for k in keys] == [cuid], username
    finally:
        assert agent.stop() == 0


def test_a_prepaid_one_time_component_sizes_its_allocation_on_create_and_update(tmp_path, mup):
    """CPU sold prepaid (`accounting_type: one`, Waldur's `is_prepaid` one-time component):
    Waldur takes its limit, and the allocation's size follows it in MUP's core-hours."""
    components = {**COMPONENTS, "cpu": {**COMPONENTS["cpu"], "accounting_type": "one"}}
    seed = copy.deepcopy(SEED)
    seed["offerings"][0]["components"] = [
        {"type": "cpu", "name": "CPU", "billing_type": "one", "is_prepaid": True},
        {"type": "storage", "name": "Storage", "billing_type": "limit", **COMPONENTS["storage"]},
    ]
    with WaldurSimulator(seed, tick_interval=0) as sim:
        consumer = ConsumerClient(sim.api_url, sim.staff_token)
        offering = sim.summary()["offerings"][0]
        climate = next(p for p in sim.summary()["projects"] if GRANT in p["name"])
        agent = agent_for(tmp_path, sim, offering, mup, components)
        try:
            order = consumer.order(offering["url"], climate["url"], {"cpu": 5, "storage": 100})
            done = finished(consumer, order["uuid"], agent, "create")
            assert done["state"] == "done", done
            resource = consumer.resource(done["marketplace_resource_uuid"])
            cpu = f"{resource['backend_id']}_cpu"
            assert mup.portal.allocation_by_identifier(cpu)["size"] == 5000, "k-core-hours"

            update = consumer.update_limits(resource["uuid"], {"cpu": 8, "storage": 100})
            assert finished(consumer, update, agent, "update")["state"] == "done"
            assert mup.portal.allocation_by_identifier(cpu)["size"] == 8000
            assert consumer.resource(resource["uuid"])["limits"]["cpu"] == 8
        finally:
            assert agent.stop() == 0
            consumer.close()
