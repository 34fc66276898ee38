"""Upstream's federation keys through the real agent service, against Waldur A and Waldur B:
users pushed through B's identity bridge (upstream's default), role mapping, end dates both ways,
limits back from B, the consent filter, the effective id and usernames back from B."""

from __future__ import annotations

from typing import Any

from tests.e2e.harness import Agent, wait_for
from tests.federation.conftest import ISD, created, offering_config


def bridged(sim_a, b, **settings: Any) -> dict[str, Any]:
    """A config that leaves `user_resolve_method` out, as upstream's examples do: B's identity
    bridge finds (and makes) A's users on B."""
    config = offering_config(sim_a, b, identity_bridge_source=ISD, **settings)
    del config["backend_settings"]["user_resolve_method"]
    return config


def b_user(b, username: str) -> dict[str, Any]:
    (user,) = b.sim.objects("users", username=username)
    return user


def test_users_reach_b_through_its_identity_bridge(tmp_path, sim_a, a, b):
    agent = Agent(tmp_path, [bridged(sim_a, b)]).start()
    try:
        _, _, project = created(sim_a, a, b, agent)
        # A's usernames (the CUIDs) on B, made by the bridge, not matched to B's own alice-b
        team = wait_for(
            lambda: t if len(t := b.project_team(project)) == 2 else None,
            what="A's team on B",
            log=agent.log,
        )
        assert team == {"alice": "PROJECT.ADMIN", "bob": "PROJECT.MEMBER"}
        alice = b_user(b, "alice")
        assert (alice["first_name"], alice["last_name"]) == ("Alice", "Andersen")
        assert alice["email"] == "alice@example.org"
        assert alice["active_isds"] == [ISD]
        assert b.federator_token not in agent.log()
    finally:
        assert agent.stop() == 0


def test_roles_reach_b_as_role_mapping_renames_them(tmp_path, sim_a, a, b):
    mapping = {"PROJECT.ADMIN": "PROJECT.MANAGER"}
    agent = Agent(tmp_path, [offering_config(sim_a, b, role_mapping=mapping)]).start()
    try:
        _, _, project = created(sim_a, a, b, agent)
        wanted = {"alice-b": "PROJECT.MANAGER", "bob-b": "PROJECT.MEMBER"}
        wait_for(lambda: b.project_team(project) == wanted, what="B's team", log=agent.log)
        b.sim.reset_counters()
        wait_for(  # several membership syncs later: kept, never taken away and given again
            lambda: b.sim.counts().get("GET /api/projects/{uuid}/list_users/", 0) >= 3,
            what="more membership syncs",
        )
        assert b.project_team(project) == wanted
        assert not b.sim.counts().get("POST /api/projects/{uuid}/delete_user/")
    finally:
        assert agent.stop() == 0


def test_end_dates_follow_the_side_that_changed_last(tmp_path, sim_a, a, b):
    agent = Agent(tmp_path, [offering_config(sim_a, b)]).start()
    try:
        resource, twin, project = created(sim_a, a, b, agent)
        (b_project,) = b.sim.objects("projects", backend_id=project)

        def b_resource() -> dict[str, Any]:
            return b.sim.objects("resources", uuid=twin)[0]

        # A's customer moves the resource's end; B takes it (A changed last)
        a._call(
            "POST",
            f"marketplace-resources/{resource['uuid']}/set_end_date/",
            {"end_date": "2031-01-31"},
        )
        wait_for(lambda: b_resource().get("end_date") == "2031-01-31", what="A's end date on B")
        # then B's provider moves it: A takes B's
        b.provider._call(
            "POST",
            f"marketplace-provider-resources/{twin}/set_end_date/",
            {"end_date": "2030-06-30"},
        )
        wait_for(
            lambda: a.resource(resource["uuid"])["end_date"] == "2030-06-30",
            what="B's end date on A",
            log=agent.log,
        )
        # A's project end date reaches B's project
        a._call("PATCH", f"projects/{resource['project_uuid']}/", {"end_date": "2032-12-31"})
        wait_for(
            lambda: (
                b.sim.objects("projects", uuid=b_project["uuid"])[0]["end_date"] == "2032-12-31"
            ),
            what="A's project end date on B",
            log=agent.log,
        )
        assert b_resource()["end_date"] == "2030-06-30"
    finally:
        assert agent.stop() == 0


def test_limits_bs_provider_changes_come_back_to_a(tmp_path, sim_a, a, b):
    agent = Agent(tmp_path, [offering_config(sim_a, b)]).start()
    try:
        resource, twin, _ = created(sim_a, a, b, agent)
        assert b.sim.objects("resources", uuid=twin)[0]["limits"] == {"cpu": 100, "nodes": 14}
        b.provider._call(
            "POST",
            f"marketplace-provider-resources/{twin}/set_limits/",
            {"limits": {"cpu": 150, "nodes": 20}},
        )
        wait_for(
            lambda: a.resource(resource["uuid"])["limits"]["cpu"] == 150,
            what="B's limit on A",
            log=agent.log,
        )
        # nodes on B is fed by two components here: it cannot be split back, so they stay
        limits = a.resource(resource["uuid"])["limits"]
        assert (limits["small_nodes"], limits["large_nodes"]) == (2, 3)
        assert not [o for o in b.orders() if o["type"] == "Update"]  # nothing went back to B
    finally:
        assert agent.stop() == 0


def test_only_consenting_users_reach_b(tmp_path, sim_a, a, b):
    config = offering_config(sim_a, b, fetch_consented_users_only=True)
    agent = Agent(tmp_path, [config]).start()
    try:
        _, _, project = created(sim_a, a, b, agent)

        def consents(username: str, given: bool) -> None:
            with sim_a.state.lock:
                (user,) = [u for u in sim_a.state.all("users") if u["username"] == username]
                (offering_user,) = sim_a.state.find("offering_users", user=user["uuid"])
                offering_user["has_consent"] = given

        consents("bob", False)  # bob withdraws his consent to the federated offering
        wanted = {"alice-b": "PROJECT.ADMIN"}
        wait_for(lambda: b.project_team(project) == wanted, what="bob gone", log=agent.log)
        consents("bob", True)
        wanted = {"alice-b": "PROJECT.ADMIN", "bob-b": "PROJECT.MEMBER"}
        wait_for(lambda: b.project_team(project) == wanted, what="bob back", log=agent.log)
    finally:
        assert agent.stop() == 0


def test_the_id_bs_provider_gives_becomes_the_effective_id_on_a(tmp_path, sim_a, a, b):
    def named(order: dict[str, Any]) -> None:  # B's own agent names B's resource
        path = f"marketplace-provider-resources/{order['resource']}/set_backend_id/"
        b.provider._call("POST", path, {"backend_id": "hpc_climate_1"})

    agent = Agent(tmp_path, [offering_config(sim_a, b)]).start()
    try:
        resource, twin, _ = created(sim_a, a, b, agent, before_done=named)
        stored = sim_a.objects("resources", uuid=resource["uuid"])[0]
        assert stored["effective_id"] == "hpc_climate_1"  # set with the order's completion
        assert stored["backend_id"] == twin
        b.provider._call(
            "POST",
            f"marketplace-provider-resources/{twin}/set_backend_id/",
            {"backend_id": "hpc_climate_renamed"},
        )
        wait_for(
            lambda: a.resource(resource["uuid"])["effective_id"] == "hpc_climate_renamed",
            what="B's new name on A",
            log=agent.log,
        )
    finally:
        assert agent.stop() == 0


def test_usernames_bs_offering_gives_come_back_to_a(tmp_path, sim_a, a, b):
    config = {**bridged(sim_a, b), "username_reconciliation_enabled": True}
    agent = Agent(tmp_path, [config]).start()
    try:
        created(sim_a, a, b, agent)
        b_offering_user = wait_for(
            lambda: b.sim.objects("offering_users", user=b_user(b, "alice")["uuid"]),
            what="alice's offering user on B",
            log=agent.log,
        )[0]
        # B's provider (its own agent) names her on B
        b.provider._call(
            "PATCH",
            f"marketplace-offering-users/{b_offering_user['uuid']}/",
            {"username": "alice_hpc"},
        )
        alice = a.user_uuid("alice")
        wait_for(
            lambda: sim_a.objects("offering_users", user=alice)[0]["username"] == "alice_hpc",
            what="B's username on A",
            log=agent.log,
        )
        (bob,) = sim_a.objects("offering_users", user=a.user_uuid("bob"))
        assert bob["username"] == "bob"  # B named nobody else: A's name stays
    finally:
        assert agent.stop() == 0


def test_the_identity_bridge_username_plugin_leaves_naming_to_b(tmp_path, sim_a, a, b):
    """Upstream's `waldur-identity-bridge` plugin: A's offering users wait for the names B's
    provider gives; meanwhile they are on B already (pushed through the bridge), and one who
    leaves the offering is removed from the bridge's source on B."""
    with sim_a.state.lock:
        (offering,) = sim_a.state.all("offerings")
        offering["plugin_options"]["username_generation_policy"] = "service_provider"
        offering["plugin_options"]["service_provider_can_create_offering_user"] = True
    config = {
        **bridged(sim_a, b),
        "username_management_backend": "waldur-identity-bridge",
        "username_reconciliation_enabled": True,
    }
    agent = Agent(tmp_path, [config]).start()
    try:
        _, _, project = created(sim_a, a, b, agent)
        alice, bob = a.user_uuid("alice"), a.user_uuid("bob")
        team = {"alice": "PROJECT.ADMIN", "bob": "PROJECT.MEMBER"}
        wait_for(lambda: b.project_team(project) == team, what="A's team on B", log=agent.log)
        (waiting,) = sim_a.objects("offering_users", user=alice)
        assert (waiting["state"], waiting["username"]) == ("Requested", None)  # A names nobody

        on_b = b.sim.objects("offering_users", user=b_user(b, "alice")["uuid"])[0]
        b.provider._call(
            "PATCH", f"marketplace-offering-users/{on_b['uuid']}/", {"username": "alice_hpc"}
        )
        named = wait_for(
            lambda: (u := sim_a.objects("offering_users", user=alice)[0])["state"] == "OK" and u,
            what="alice named on A by B",
            log=agent.log,
        )
        assert named["username"] == "alice_hpc"

        with sim_a.state.lock:  # bob leaves the offering on A
            (gone,) = sim_a.state.find("offering_users", user=bob)
            gone["is_restricted"] = True
        wait_for(lambda: not b_user(b, "bob")["is_active"], what="bob off B", log=agent.log)
        assert b_user(b, "alice")["is_active"]
    finally:
        assert agent.stop() == 0
