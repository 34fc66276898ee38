"""Upstream's SLURM features against the real test cluster, one key at a time: per-allocation
QoS (`qos_management`), QoS and partition enforcement, `default_partition`, `root_account`,
project-slug names, `soft_delete`, prepaid budgets, member removal, per-user limits, the
membership cycle's re-parenting and one component mapped onto several TRES
(`target_components`)."""

from __future__ import annotations

import pytest

from tests.slurm.conftest import COMPONENTS, resource
from waldur_site_agent_actors.backends import units
from waldur_site_agent_actors.backends.exceptions import InvalidNameError
from waldur_site_agent_actors.backends.slurm import usage
from waldur_site_agent_actors.backends.structures import TOTAL_ACCOUNT_USAGE

pytestmark = pytest.mark.slurm

QOS_MANAGEMENT = {
    "enabled": True,
    "flags": "DenyOnLimit,NoDecay",
    "grp_tres": "cpu=8,node=1",
    "max_jobs": 4,
    "max_submit": 8,
    "max_wall": "120",
    "min_tres_per_job": "cpu=1",
    "additional_qos": ["waldur-extra"],
}


def qos_row(slurm, name):
    rows = slurm.sacctmgr(
        "show", "qos", "where", f"name={name}",
        "format=Name,Flags,GrpTRES,MaxJobsPU,MaxSubmitPU,MaxWall,MinTRES,GrpTRESMins",
    )  # fmt: skip
    keys = ["name", "flags", "GrpTRES", "MaxJobs", "MaxSubmit", "MaxWall", "MinTRES", "GrpTRESMins"]
    return dict(zip(keys, rows[0], strict=True)) if rows else None


def own(slurm, account, *fields):
    rows = slurm.sacctmgr(
        "show", "association", "where", f"account={account}", f"format=User,{','.join(fields)}"
    )
    return next(row[1:] for row in rows if not row[0])


def test_allocation_qos_holds_the_budget_and_pause_keeps_it(cluster, make_backend):
    backend = make_backend(
        qos_paused=None,
        qos_downscaled=None,
        qos_management={**QOS_MANAGEMENT, "skip_qos_swap": True, "apply_limits_to_qos": True},
    )
    target = resource()
    account = backend.resource_backend_id(target)
    backend.create_resource_with_id(target, account)
    submitter = f"s{account[1:7]}"
    cluster.ensure_unix_user(submitter)
    backend.add_user(account, submitter)
    try:
        assert qos_row(cluster, account) == {
            "name": account,
            "flags": "DenyOnLimit,NoDecay",
            "GrpTRES": "cpu=8,node=1",
            "MaxJobs": "4",
            "MaxSubmit": "8",
            "MaxWall": "02:00:00",
            "MinTRES": "cpu=1",
            "GrpTRESMins": "cpu=10,mem=80M",  # the budget: on the QoS ...
        }
        qos_list, default_qos, budget = own(cluster, account, "QOS", "DefaultQOS", "GrpTRESMins")
        assert set(qos_list.split(",")) >= {account, "waldur-extra"}
        assert (default_qos, budget) == (account, "")  # ... not on the account
        backend.set_resource_limits(account, {"cpu": 300})
        assert qos_row(cluster, account)["GrpTRESMins"] == "cpu=30,mem=80M"
        assert backend.get_resource_limits(account) == {"cpu": 300.0, "mem": 5.0}

        # Pause and restore by GrpSubmitJobs: the QoS list stays as it is.
        cluster.wait_controller_knows(account)  # or slurmctld may drop the pause
        cluster.run("scancel", cluster.submit(account, submitter, seconds=30))
        assert backend.pause_resource(account) is True
        assert backend.pause_resource(account) is False
        assert own(cluster, account, "GrpSubmit", "QOS") == ["0", qos_list]
        refusal = cluster.refused(account, submitter)  # root is exempt from limits
        assert "submit" in refusal.lower() or "violates" in refusal.lower(), refusal
        assert backend.restore_resource(account) is True
        assert own(cluster, account, "GrpSubmit", "QOS") == ["", qos_list]
    finally:
        backend.delete_resource(target.with_backend_id(account))
    assert qos_row(cluster, account) is None
    assert cluster.account(account) is None


def test_allocation_qos_without_skip_swap_still_swaps_qos_on_pause(cluster, make_backend):
    backend = make_backend(qos_management={"enabled": True})
    target = resource()
    account = backend.resource_backend_id(target)
    backend.create_resource_with_id(target, account)
    assert qos_row(cluster, account)["flags"] == "DenyOnLimit,NoDecay"  # upstream's default
    assert own(cluster, account, "DefaultQOS", "GrpTRESMins") == [account, "cpu=10,mem=80M"]
    # The membership cycle restores an OK resource every time: its own QoS stays its default.
    assert backend.restore_resource(account) is False
    assert backend.pause_resource(account) is True
    assert cluster.account(account)["qos"] == "waldur-paused"
    assert backend.restore_resource(account) is True
    assert own(cluster, account, "DefaultQOS", "GrpTRESMins") == [account, "cpu=10,mem=80M"]
    backend.delete_resource(target.with_backend_id(account))
    assert qos_row(cluster, account) is None


def associations(slurm, account):
    rows = slurm.sacctmgr(
        "show", "association", "where", f"account={account}", "format=User,Partition,QOS,DefaultQOS"
    )
    return sorted(tuple(row) for row in rows if row[0])


def test_qos_enforcement_grants_the_order_s_qos_on_its_partition(cluster, make_backend, run_id):
    backend = make_backend(qos_paused=None, qos_downscaled=None, qos_enforcement_enabled=True)
    backend.set_offering_details(["batch", "debug"], {"enforce_qos": True})
    chosen = {"qos": "waldur-gold", "partition": "batch"}
    target = resource(attributes=chosen)
    account = backend.resource_backend_id(target)
    backend.create_resource_with_id(target, account)
    user = f"e{run_id}"
    backend.add_users_to_resource(account, {user}, resource_attributes=chosen)
    assert associations(cluster, account) == [(user, "batch", "waldur-gold", "waldur-gold")]
    # No partition chosen: every partition of the offering (here not enforced: none).
    backend.add_users_to_resource(account, {"root"}, resource_attributes={"qos": "waldur-silver"})
    assert ("root", "", "waldur-silver", "waldur-silver") in associations(cluster, account)
    # Pausing must not take the granted QoS away: GrpSubmitJobs instead.
    assert backend.pause_resource(account) is True
    assert own(cluster, account, "GrpSubmit") == ["0"]
    assert (user, "batch", "waldur-gold", "waldur-gold") in associations(cluster, account)

    # The operator's switch wins over the offering's flag, both ways.
    backend.set_offering_details([], {"enforce_qos": False})
    assert backend.qos_enforced() is False
    forced = make_backend(
        qos_enforcement_enabled=True,
        enforce_offering_qos=True,
        qos_paused=None,
        qos_downscaled=None,
    )
    assert forced.qos_enforced()
    assert not make_backend(enforce_offering_qos=True).qos_enforced()  # master switch off
    # A hostile choice fails the order before any command.
    with pytest.raises(InvalidNameError):
        backend.create_resource_with_id(
            resource(slug="evil", attributes={"qos": "gold;id"}), f"a{run_id}_evil"
        )
    assert cluster.account(f"a{run_id}_evil") is None


def test_offering_partitions_limit_associations_only_when_enforced(cluster, make_backend, run_id):
    backend = make_backend(enforce_offering_partitions=True, default_partition="debug")
    target = resource()
    account = backend.resource_backend_id(target)
    backend.create_resource_with_id(target, account)
    user = f"p{run_id}"
    cluster.ensure_unix_user(user)  # before its association: slurmctld resolves it then
    backend.set_offering_details(["batch"], {})
    backend.add_user(account, user)
    assert associations(cluster, account) == [(user, "batch", "normal", "")]
    relaxed = make_backend(default_partition="debug")
    relaxed.set_offering_details(["batch"], {})  # informational only: the default partition
    relaxed.add_user(account, "root")
    assert ("root", "debug", "normal", "") in associations(cluster, account)
    cluster.run("scancel", cluster.submit(account, user, seconds=30, partition="batch"))
    refusal = cluster.refused(account, user, partition="debug")
    assert "partition" in refusal.lower() or "invalid account" in refusal.lower(), refusal


def test_default_partition_scopes_new_associations(cluster, make_backend, run_id):
    """`default_partition`: a new association is on that partition alone, also when the order's
    QoS is granted without a partition (upstream's fallback); unset, it spans every partition."""
    backend = make_backend(
        default_partition="batch",
        qos_enforcement_enabled=True,
        qos_paused=None,
        qos_downscaled=None,
    )
    backend.set_offering_details(["debug"], {"enforce_qos": True})  # partitions not enforced
    target = resource()
    account = backend.resource_backend_id(target)
    backend.create_resource_with_id(target, account)
    user, granted, unscoped = f"d{run_id}", f"q{run_id}", f"e{run_id}"
    cluster.ensure_unix_user(user)  # before its association: slurmctld resolves it then
    backend.add_user(account, user)
    backend.add_user(account, granted, resource_attributes={"qos": "waldur-gold"})
    make_backend().add_user(account, unscoped)
    assert associations(cluster, account) == [
        (user, "batch", "normal", ""),
        (unscoped, "", "normal", ""),
        (granted, "batch", "waldur-gold", "waldur-gold"),
    ]
    # slurmctld keeps the user to it: the cluster's own default partition (debug) refuses them.
    cluster.run("scancel", cluster.submit(account, user, seconds=30, partition="batch"))
    refusal = cluster.refused(account, user, partition="debug")
    assert "partition" in refusal.lower() or "invalid account" in refusal.lower(), refusal


def test_root_account_and_allocations_named_after_the_project(cluster, make_backend, run_id):
    top = f"c{run_id}_top"
    cluster.sacctmgr("add", "account", top, "parent=root")
    backend = make_backend(root_account=top)
    backend.set_offering_details([], {"account_name_generation_policy": "project_slug"})
    first, second = resource(slug="one"), resource(slug="two")
    name = backend.resource_backend_id(first)
    assert name == f"a{run_id}_climate"
    backend.create_resource_with_id(first, name)
    assert cluster.account(f"c{run_id}_uni")["parent"] == top
    # Every allocation of the project starts from its name; it holds the first one's account.
    assert backend.claim(second, backend.resource_backend_id(second)) == "theirs"
    assert backend.backend_id_candidates(second)[:2] == [name, f"{name}-0"]  # upstream's suffix
    user = f"r{run_id}"
    backend.add_user(name, user)
    default = cluster.sacctmgr("show", "user", user, "format=DefaultAccount")[0][0]
    assert default == "root"  # users' DefaultAccount is still default_account


def test_soft_delete_keeps_an_unusable_account_for_a_restore(cluster, make_backend, run_id):
    backend = make_backend(soft_delete=True)
    target = resource()
    account = backend.resource_backend_id(target)
    backend.create_resource_with_id(target, account)
    backend.add_user(account, "root")
    job = cluster.submit(account, "root", seconds=300)
    cluster.wait_job(job, ("RUNNING", "PENDING"))
    assert backend.delete_resource(target.with_backend_id(account)) is None
    assert cluster.job_state(job) == "CANCELLED"
    assert cluster.users(account) == set()
    assert cluster.account(account)["GrpTRESMins"] == "cpu=0,gres/gpu=0,mem=0"
    # A restore adopts the account and gives its limits back.
    backend.apply_resource_limits(target.with_backend_id(account))
    assert cluster.account(account)["GrpTRESMins"] == "cpu=10,mem=80M"


PREPAID = {
    "cpu": {"measured_unit": "CPU-minutes", "accounting_type": "one", "label": "CPU"},
    "mem": {"measured_unit": "MB-minutes", "accounting_type": "limit", "label": "Mem"},
}


def test_prepaid_budget_is_limit_times_months_and_follows_a_renewal(cluster, make_backend):
    backend = make_backend(components=PREPAID)
    assert backend.has_prepaid_components()
    target = resource(created="2026-01-15T10:00:00Z", end_date="2026-04-15")
    account = backend.resource_backend_id(target)
    info = backend.create_resource_with_id(target, account)
    assert info.limits == {"cpu": 300, "mem": 5}  # 100 x 3 months; `limit` untouched
    assert cluster.account(account)["GrpTRESMins"] == "cpu=300,mem=5M"
    renewed = target.with_backend_id(account)
    renewed = type(renewed)(**{**_fields(renewed), "end_date": "2026-07-16"})  # 6 months + a day
    backend.apply_resource_limits(renewed)
    assert cluster.account(account)["GrpTRESMins"] == "cpu=700,mem=5M"


def _fields(struct):
    return {name: getattr(struct, name) for name in struct.__struct_fields__}


def test_a_member_leaving_has_their_jobs_in_the_account_cancelled(cluster, make_backend, run_id):
    backend = make_backend()
    target = resource()
    account = backend.resource_backend_id(target)
    backend.create_resource_with_id(target, account)
    leaver = f"l{run_id}"
    cluster.ensure_unix_user(leaver)
    backend.add_users_to_resource(account, {leaver, "root"})
    theirs = cluster.submit(account, leaver, seconds=300)
    others = cluster.submit(account, "root", seconds=300)
    cluster.wait_job(theirs, ("RUNNING", "PENDING"))
    assert backend.remove_users_from_resource(account, {leaver}) == [leaver]
    assert cluster.job_state(theirs) == "CANCELLED"
    assert cluster.job_state(others) in ("RUNNING", "PENDING")
    cluster.run("scancel", others)


def test_per_user_limits_are_max_tres_mins_and_stale_ones_go(cluster, make_backend, run_id):
    backend = make_backend()
    target = resource()
    account = backend.resource_backend_id(target)
    backend.create_resource_with_id(target, account)
    user = f"m{run_id}"
    backend.add_user(account, user)
    backend.set_resource_user_limits(account, user, {"cpu": 50})
    row = next(r for r in cluster.associations(account) if r["user"] == user)
    assert (row["MaxTRESMins"], row["GrpTRESMins"]) == ("cpu=5", "")
    assert backend.get_resource_user_limits(account) == {user: {"cpu": 5}}
    backend.set_resource_user_limits(account, user, {})  # Waldur holds none any more
    assert backend.get_resource_user_limits(account) == {}


def test_the_membership_cycle_reparents_moved_accounts(cluster, make_backend, run_id):
    backend = make_backend()
    target = resource()
    account = backend.resource_backend_id(target)
    backend.create_resource_with_id(target, account)
    moved = target.with_backend_id(account)
    moved = type(moved)(**{**_fields(moved), "customer_slug": "lab", "customer_name": "Lab"})
    backend.sync_resource_project(moved)
    assert cluster.account(f"p{run_id}_climate")["parent"] == f"c{run_id}_lab"
    cluster.sacctmgr(
        "modify", "account", "where", f"name={account}", "set", f"parent=c{run_id}_uni"
    )
    backend.sync_resource_project(moved)
    assert cluster.account(account)["parent"] == f"p{run_id}_climate"


# Upstream's `target_components`: one Waldur component onto several TRES, each with a factor
# (upstream's CI maps node-hours onto cpu x64 and gpu x8); factors here make a few seconds' job
# whole units: 1 unit = 0.1 CPU-minutes plus 0.05 GPU-minutes. `mem` passes through.
NODES = {
    "node": {
        "measured_unit": "node-units",
        "accounting_type": "limit",
        "label": "Node",
        "unit_factor": 1,
        "target_components": {"cpu": {"factor": 0.1}, "gpu": {"factor": 0.05}},
    },
    "mem": COMPONENTS["mem"],
}


def test_one_component_onto_several_tres_with_factors(cluster, make_backend, run_id):
    backend = make_backend(NODES)
    target = resource(limits={"node": 100, "mem": 5})
    account = backend.resource_backend_id(target)
    backend.create_resource_with_id(target, account)
    budget = lambda: usage.parse_tres(cluster.account(account)["GrpTRESMins"])  # noqa: E731
    # 100 x 0.1 CPU-minutes and 100 x 0.05 GPU-minutes; mem by its unit_factor (16).
    assert budget() == {"cpu": 10, "gres/gpu": 5, "mem": 80}
    assert backend.get_resource_limits(account) == {"node": 100.0, "mem": 5.0}
    backend.set_resource_limits(account, {"node": 300})
    assert budget() == {"cpu": 30, "gres/gpu": 15, "mem": 80}
    assert backend.get_resource_metadata(account)["limits"] == {"node": 300.0, "mem": 5.0}

    # Usage comes back as the sum of each TRES's usage divided by its factor.
    user = f"n{run_id}"
    cluster.ensure_unix_user(user)
    backend.add_user(account, user)
    job = cluster.submit(account, user, seconds=3, cpus=2, gpus=1)
    cluster.wait_job(job, ("COMPLETED",))
    elapsed = int(cluster.run("sacct", "-n", "-P", "-X", "-j", job, "--format=ElapsedRaw"))
    minutes = elapsed / 60
    expected = {
        "node": units.usage_to_waldur(2 * minutes / 0.1 + 1 * minutes / 0.05, 1),
        "mem": units.usage_to_waldur(2 * 256 * minutes, 16),
    }
    assert expected["node"] > 0
    report = backend.get_usage_report([account])[account]
    assert report == {TOTAL_ACCOUNT_USAGE: expected, user: expected}

    # Per-user limits are converted the same way (a job over them would stay pending).
    backend.set_resource_user_limits(account, user, {"node": 40})
    row = next(r for r in cluster.associations(account) if r["user"] == user)
    assert usage.parse_tres(row["MaxTRESMins"]) == {"cpu": 4, "gres/gpu": 2}
