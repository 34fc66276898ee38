"""The federation through the real agent service: Waldur A's orders, usage and teams, served by
Waldur B, whose provider (the test, acting as B's own agent) approves and carries out B's orders."""

from __future__ import annotations

import time

from tests.e2e.harness import Agent, terminal, wait_for
from tests.federation.conftest import (
    LIMITS,
    b_order,
    created,
    offering_config,
    place,
    project_backend_id,
)


def test_create_update_terminate_wait_for_b_and_finish_with_it(tmp_path, sim_a, a, b):
    agent = Agent(tmp_path, [offering_config(sim_a, b)]).start()
    try:
        order, project = place(sim_a, a)
        forwarded = b_order(b, "Create", agent)
        assert forwarded["limits"] == {"cpu": 100, "nodes": 2 * 1 + 3 * 4}
        assert forwarded["attributes"]["name"] == "climate run"
        waiting = wait_for(
            lambda: (o := a.order_details(order["uuid"]))["backend_id"] and o,
            what="A's order to remember B's",
            log=agent.log,
        )
        assert (waiting["state"], waiting["backend_id"]) == ("executing", forwarded["uuid"])
        time.sleep(1.5)  # several order cycles: A's order waits for B's, it does not guess
        assert a.order_details(order["uuid"])["state"] == "executing"
        backend_id = project_backend_id(sim_a, project)
        assert b.project_team(backend_id) == {"alice-b": "PROJECT.ADMIN", "bob-b": "PROJECT.MEMBER"}

        b.finish(forwarded["uuid"])
        done = wait_for(lambda: terminal(a, order["uuid"]), what="create on A", log=agent.log)
        assert done["state"] == "done", done
        resource = a.resource(done["marketplace_resource_uuid"])
        assert resource["state"] == "OK"
        assert resource["backend_id"] == forwarded["resource"]

        update = a.update_limits(resource["uuid"], {**LIMITS, "cpu": 200, "large_nodes": 5})
        forwarded = b_order(b, "Update", agent)
        assert forwarded["limits"] == {"cpu": 200, "nodes": 2 + 5 * 4}
        assert a.order_details(update)["state"] == "executing"
        b.finish(forwarded["uuid"])
        assert wait_for(lambda: terminal(a, update), what="update on A")["state"] == "done"
        assert a.resource(resource["uuid"])["limits"]["cpu"] == 200

        terminate = a.terminate(resource["uuid"])
        b.finish(b_order(b, "Terminate", agent)["uuid"])
        assert wait_for(lambda: terminal(a, terminate), what="terminate on A")["state"] == "done"
        assert a.resource(resource["uuid"])["state"] == "Terminated"
        (twin,) = b.sim.objects("resources", uuid=resource["backend_id"])
        assert twin["state"] == "Terminated"
    finally:
        assert agent.stop() == 0


def test_usage_on_b_reaches_a_in_as_components(tmp_path, sim_a, a, b):
    agent = Agent(tmp_path, [offering_config(sim_a, b)]).start()
    try:
        resource, twin, _ = created(sim_a, a, b, agent)
        b.report_usage(twin, {"cpu": 40, "nodes": 8, "gpu_hours": 500, "storage_gb_hours": 800})
        b.report_user_usage(twin, "gpu_hours", "alice-b", 300)

        def usage():
            found = sim_a.objects("component_usages", resource=resource["uuid"])
            return {u["type"]: float(u["usage"]) for u in found}

        expected = {"cpu": 40, "node_hours": 500 / 5 + 800 / 10, "small_nodes": 8, "large_nodes": 2}
        wait_for(lambda: usage() == expected, what="usage on A", log=agent.log)
        types = {u["uuid"]: u["type"] for u in sim_a.objects("component_usages")}
        per_user = wait_for(
            lambda: {
                types[u["component_usage"]]: float(u["usage"])
                for u in sim_a.objects("user_usages", username="alice-b")
                if u["usage"] and float(u["usage"])
            },
            what="per-user usage on A",
        )
        assert per_user == {"node_hours": 300 / 5}  # B's username: its usage is B's record
    finally:
        assert agent.stop() == 0


def test_team_changes_on_a_reach_the_b_project_matched_by_email(tmp_path, sim_a, a, b):
    agent = Agent(tmp_path, [offering_config(sim_a, b)]).start()
    try:
        resource, _, backend_id = created(sim_a, a, b, agent)
        assert b.project_team(backend_id) == {"alice-b": "PROJECT.ADMIN", "bob-b": "PROJECT.MEMBER"}
        project = resource["project_uuid"]
        a.add_user(project, a.user_uuid("carol"), "PROJECT.MANAGER")
        a.add_user(project, a.user_uuid("dave"), "PROJECT.MEMBER")  # no B account by email
        a.remove_user(project, a.user_uuid("bob"))
        wanted = {"alice-b": "PROJECT.ADMIN", "carol-b": "PROJECT.MANAGER"}
        wait_for(lambda: b.project_team(backend_id) == wanted, what="B's team", log=agent.log)
        metadata = wait_for(
            lambda: a.resource(resource["uuid"])["backend_metadata"], what="metadata from B"
        )
        assert metadata["waldur_b_state"] == "OK"
        assert "dave has no account on Waldur B (email 'dave@example.org')" in agent.log()
        assert a.resource(resource["uuid"])["state"] == "OK"
    finally:
        assert agent.stop() == 0


def test_an_order_b_rejects_errs_on_a_with_bs_reason(tmp_path, sim_a, a, b):
    agent = Agent(tmp_path, [offering_config(sim_a, b)]).start()
    try:
        order, _ = place(sim_a, a)
        b.reject(b_order(b, "Create", agent)["uuid"], "no GPU budget left this quarter")
        erred = wait_for(lambda: terminal(a, order["uuid"]), what="erred on A", log=agent.log)
        assert erred["state"] == "erred"
        assert "provider rejected order" in erred["error_message"]
        assert "no GPU budget left this quarter" in erred["error_message"]
        assert b.federator_token not in agent.log()
    finally:
        assert agent.stop() == 0


def test_a_b_order_past_its_timeout_errs_and_the_resource_recovers_when_b_finishes(
    tmp_path, sim_a, a, b
):
    agent = Agent(tmp_path, [offering_config(sim_a, b, order_poll_timeout=1)]).start()
    try:
        order, _ = place(sim_a, a)
        forwarded = b_order(b, "Create", agent)
        erred = wait_for(lambda: terminal(a, order["uuid"]), what="erred on A", log=agent.log)
        assert erred["state"] == "erred"
        assert (
            f"order {forwarded['uuid']} on Waldur B is still pending-provider"
            in (erred["error_message"])
        )
        resource_uuid = erred["marketplace_resource_uuid"]
        assert a.resource(resource_uuid)["state"] == "Erred"
        b.finish(forwarded["uuid"])
        wait_for(
            lambda: a.resource(resource_uuid)["state"] == "OK",
            what="A's resource OK once B made it",
            log=agent.log,
        )
    finally:
        assert agent.stop() == 0


def test_resource_options_changed_on_a_reach_b_directly_or_by_bs_order(tmp_path, sim_a, a, b):
    for sim in (sim_a, b.sim):  # both offerings make an Update order of an option change
        with sim.state.lock:
            (offering,) = sim.state.all("offerings")
            offering["plugin_options"]["create_orders_on_resource_option_change"] = True
    agent = Agent(tmp_path, [offering_config(sim_a, b)]).start()
    try:
        resource, twin, _ = created(sim_a, a, b, agent)

        change = a.update_options(resource["uuid"], {"walltime": 48})
        forwarded = b_order(b, "Update", agent)
        assert forwarded["attributes"]["new_options"] == {"walltime": 48}
        assert a.order_details(change)["state"] == "executing"
        b.finish(forwarded["uuid"])
        assert wait_for(lambda: terminal(a, change), what="options on A")["state"] == "done"
        assert a.resource(resource["uuid"])["options"] == {"walltime": 48}
        (stored,) = b.sim.objects("resources", uuid=twin)
        assert stored["options"] == {"walltime": 48}

        with b.sim.state.lock:  # B now takes option changes without an order
            (offering,) = b.sim.state.all("offerings")
            offering["plugin_options"]["create_orders_on_resource_option_change"] = False
        change = a.update_options(resource["uuid"], {"walltime": 72})
        assert wait_for(lambda: terminal(a, change), what="options on A")["state"] == "done"
        (stored,) = b.sim.objects("resources", uuid=twin)
        assert stored["options"] == {"walltime": 72}
        assert not [o for o in b.orders() if o["type"] == "Update" and o["state"] != "done"]
    finally:
        assert agent.stop() == 0
