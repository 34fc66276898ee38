"""Offerings with the SLURM keys upstream's example configs turn on
(tests/data/configs/slurm-upstream-features.yaml), each run end to end by the whole agent between
the Waldur simulator and the real cluster (the Discoverer ones also through slurmrestd): create,
update limits, team changes, usage, pause/restore, terminate, every order done."""

from __future__ import annotations

import copy
import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.harness import Agent, terminal, wait_for
from tests.slurm.conftest import mode_settings
from tests.slurm.test_agent import flag, usages

pytestmark = pytest.mark.slurm

CONFIGS = Path(__file__).resolve().parents[1] / "data" / "configs" / "slurm-upstream-features.yaml"
CHOSEN = {"qos": "waldur-gold", "partition": "batch"}
NAMES = {None: ("aandersen", "bberg", "cclark"), "ldap": ("a.andersen", "b.berg", "c.clark")}
"""The simulator's Alice, Bob and Carol as the offering's username plugin names them: the agent's
own rule, or the directory's (`username_format: first_letter_full_lastname`, as upstream)."""


def filled(name: str, **values: str) -> dict[str, Any]:
    text = CONFIGS.read_text()
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return yaml.safe_load(text)[name]


@pytest.fixture
def directory(request, run_id):
    """For an offering with an `ldap` block: the test server and this test's own OUs in it,
    as placeholders of the config; none for the others."""
    offering = yaml.safe_load(CONFIGS.read_text())[request.node.callspec.params["name"]]
    if "ldap" not in offering["backend_settings"]:
        yield None, {}
        return
    ldap = request.getfixturevalue("ldap")
    with ldap.units(run_id) as units:
        yield (
            ldap,
            {
                "ldap_uri": ldap.uri,
                "ldap_bind_dn": ldap.bind_dn,
                "ldap_password": ldap.password,
                "ldap_base_dn": ldap.base_dn,
                **units,
            },
        )


def held_in_another_offering(sim, resource_uuid, prefix):
    """The name the resource's account would get, held in Waldur by a resource of another
    offering of the same customer (and by no account on the cluster)."""
    with sim.state.lock:
        ours = sim.state.get("resources", resource_uuid)
        older = copy.deepcopy(sim.state.get("offerings", ours["offering"]))
        older.update(uuid=sim.state.new_uuid(), name="Older cluster")
        sim.state.put("offerings", older)
        taken = f"{prefix}a_{ours['slug']}".lower()
        history = copy.deepcopy(ours)
        history.update(uuid=sim.state.new_uuid(), offering=older["uuid"], backend_id=taken)
        sim.state.put("resources", history)
        sim.state.commit()
    return taken


def ends_after(sim, resource_uuid, months):
    """The resource's end date `months` after its creation (a day of the month all months have)."""
    with sim.state.lock:
        stored = sim.state.get("resources", resource_uuid)
        start = datetime.date.fromisoformat(stored["created"][:10])
        month = start.month - 1 + months  # zero-based
        end = datetime.date(start.year + month // 12, month % 12 + 1, min(start.day, 28))
        stored["end_date"] = end.isoformat()
        sim.state.put("resources", stored)
        sim.state.commit()


def members(ldap, groups_ou, account):
    """The memberUids of the account's group, read with ldapsearch; None without the group."""
    group = ldap.group(account, groups_ou)
    return None if group is None else set(group.get("memberUid", []))


def done(consumer, order_uuid, agent, what):
    order = wait_for(lambda: terminal(consumer, order_uuid), timeout=60, what=what, log=agent.log)
    assert order["state"] == "done", order
    return order


def own(slurm, account, fields):
    rows = slurm.sacctmgr(
        "show", "association", "where", f"account={account}", f"format=User,{fields}"
    )
    return {row[0]: row[1:] for row in rows}


def qos_budget(slurm, name):
    rows = slurm.sacctmgr("show", "qos", "where", f"name={name}", "format=GrpTRESMins")
    return rows[0][0] if rows else None


@pytest.mark.parametrize(
    ("name", "mode"),
    [
        ("basic", "cli"),
        ("discoverer_cpu", "cli"),
        ("discoverer_gpu", "cli"),
        ("prepaid", "cli"),
        pytest.param("node_hours", "cli", marks=pytest.mark.ldap),
        # Through slurmrestd (Slurm 24.11): the allocation's QoS with its budget, QoS and
        # partition enforcement, soft delete; the flat tree with a project directory.
        ("discoverer_gpu", "rest"),
        ("discoverer_cpu", "rest"),
    ],
)
def test_upstream_feature_config_end_to_end(
    name, mode, tmp_path, sim, consumer, world, cluster, quotafs, directory, run_id, cleanup
):
    offering, projects = world
    slurm = cluster
    slurm.ensure_qos("waldur-paused", "waldur-limited")
    prefix = f"u{run_id}"
    # Removed in reverse: allocations, projects, customers, then the roots.
    cleanup.extend(
        [f"{prefix}eurohpc", f"{prefix}root", f"{prefix}c_", f"{prefix}p_", f"{prefix}a_"]
    )
    for parent in (f"{prefix}eurohpc", f"{prefix}root"):
        slurm.sacctmgr("add", "account", parent, "parent=root")
    config = filled(
        name,
        prefix=prefix,
        homes="/home",
        mount=str(quotafs.mount),
        projects=str(quotafs.mount / f"projects-{run_id}"),
        **directory[1],
    )
    ldap, groups_ou = directory[0], directory[1].get("groups_ou", "")
    alice, bob, carol = NAMES[config.get("username_management_backend")]
    for user in (alice, bob, carol):
        slurm.ensure_unix_user(user)
    settings = config["backend_settings"]
    settings.update(mode_settings(cluster, mode))
    gpu = name == "discoverer_gpu"
    with sim.state.lock:
        stored = sim.state.get("offerings", offering["uuid"])
        stored["partitions"] = [{"partition_name": "batch"}, {"partition_name": "debug"}]
        stored["plugin_options"] = {**stored["plugin_options"], "enforce_qos": gpu}
        sim.state.put("offerings", stored)
        sim.state.commit()

    order = consumer.order(
        offering["url"], projects[0]["url"], {"cpu": 2, "mem": 3}, attributes=CHOSEN
    )
    if name == "prepaid":  # a three-month subscription
        ends_after(sim, order["marketplace_resource_uuid"], months=3)
    taken = None
    if name == "basic":  # Waldur remembers the first name the agent would try
        taken = held_in_another_offering(sim, order["marketplace_resource_uuid"], prefix)
    agent = Agent(
        tmp_path,
        [
            {
                "name": name,
                "waldur_api_url": sim.api_url,
                "waldur_api_token": sim.provider_token,
                "waldur_offering_uuid": offering["uuid"],
                "backend_type": "slurm",
                **config,
            }
        ],
    ).start()
    try:
        created = done(consumer, order["uuid"], agent, "create")
        resource = consumer.resource(created["marketplace_resource_uuid"])
        account = resource["backend_id"]
        assert account.startswith(f"{prefix}a_"), account
        if taken:  # skipped without ever reaching the cluster
            assert account == f"{taken}-2" and slurm.account(taken) is None, account
        limits = own(slurm, account, "GrpTRESMins")[""][0]
        if gpu:  # the budget on the allocation's own QoS, not on the account
            assert (limits, qos_budget(slurm, account)) == ("", "cpu=120000,mem=180G")
        elif name == "prepaid":  # 2 k-hours a month for 3 months; mem is a plain limit
            assert limits == "cpu=360000,mem=180G"
        elif name == "node_hours":  # 2 units: 2 x 60000 CPU-minutes, 2 x 7500 GPU-minutes
            assert limits == "cpu=120000,gres/gpu=15000,mem=180G"
        else:
            assert limits == "cpu=120000,mem=180G"
        wait_for(
            lambda: {u for u in own(slurm, account, "QOS") if u} == {alice, bob},
            what="the team",
            log=agent.log,
        )
        if ldap:  # the users made in the directory by its username plugin, in its group
            people = ldap.search(directory[1]["people_ou"], "(objectClass=posixAccount)", "uid")
            assert {e["uid"][0] for e in people} >= {alice, bob}, people
            wait_for(
                lambda: members(ldap, groups_ou, account) == {alice, bob},
                what="the team in the LDAP group",
                log=agent.log,
            )
        if gpu:  # the order's QoS on the order's partition
            rows = own(slurm, account, "Partition,QOS")
            assert rows[alice] == ["batch", "waldur-gold"]
        if name in ("discoverer_cpu", "node_hours"):
            assert (quotafs.mount / f"projects-{run_id}" / account).is_dir()
        if name == "discoverer_cpu":
            assert own(slurm, account, "DefaultQOS")[""] == [account]

        update = consumer.update_limits(resource["uuid"], {"cpu": 3, "mem": 3})
        done(consumer, update, agent, "update")
        after = qos_budget(slurm, account) if gpu else own(slurm, account, "GrpTRESMins")[""][0]
        assert after.startswith("cpu=540000" if name == "prepaid" else "cpu=180000"), after
        if name == "prepaid":  # renewed: three more months move end_date, the budget follows
            ends_after(sim, resource["uuid"], months=6)
            wait_for(
                lambda: own(slurm, account, "GrpTRESMins")[""][0].startswith("cpu=1080000"),
                what="the budget of six months",
                log=agent.log,
            )

        consumer.add_user(projects[0]["uuid"], consumer.user_uuid("carol"))
        consumer.remove_user(projects[0]["uuid"], consumer.user_uuid("bob"))
        wait_for(
            lambda: {u for u in own(slurm, account, "QOS") if u} == {alice, carol},
            what="carol in, bob out",
            log=agent.log,
        )
        if ldap:
            assert members(ldap, groups_ou, account) == {alice, carol}

        job = slurm.submit(account, alice, seconds=3, partition="batch" if gpu else None)
        slurm.wait_job(job, ("COMPLETED",))
        wait_for(
            # A 3-second job is 0 k-hours: what counts here is that the report reached Waldur.
            lambda: "cpu" in usages(consumer, resource["uuid"]) or None,
            timeout=60,
            what="usage in Waldur",
            log=agent.log,
        )

        flag(consumer, resource, "paused", True)
        if gpu:
            wait_for(
                lambda: own(slurm, account, "GrpSubmit")[""] == ["0"], what="paused", log=agent.log
            )
        else:
            wait_for(
                lambda: own(slurm, account, "QOS")[""] == ["waldur-paused"],
                what="paused",
                log=agent.log,
            )
        flag(consumer, resource, "paused", False)
        if gpu:
            wait_for(
                lambda: own(slurm, account, "GrpSubmit")[""] == [""],
                what="restored",
                log=agent.log,
            )
        else:
            wait_for(
                lambda: own(slurm, account, "QOS")[""][0] != "waldur-paused",
                what="restored",
                log=agent.log,
            )

        done(consumer, consumer.terminate(resource["uuid"]), agent, "terminate")
        if gpu:  # soft delete: kept, no users, no budget left
            assert set(own(slurm, account, "QOS")) == {""}
            assert qos_budget(slurm, account) == "cpu=0,mem=0"
        else:
            assert slurm.account(account) is None
        if ldap:
            assert ldap.group(account, groups_ou) is None
        orders = {o["state"] for o in sim.objects("orders")}
        assert orders == {"done"}, orders
    finally:
        assert agent.stop() == 0
        if gpu and "account" in locals():
            slurm.run("sacctmgr", "-i", "remove", "qos", "where", f"name={account}", check=False)
