"""The SLURM backend against the real test cluster, one plugin call at a time."""

from __future__ import annotations

import os
import pwd
import subprocess
from datetime import datetime, timedelta

import pytest

from tests.slurm.conftest import COMPONENTS, QOS_PAUSED, resource
from waldur_site_agent_actors.backends import units
from waldur_site_agent_actors.backends.exceptions import DuplicateResourceError
from waldur_site_agent_actors.backends.structures import TOTAL_ACCOUNT_USAGE

pytestmark = pytest.mark.slurm


def test_tree_names_limits_and_collisions(cluster, make_backend, run_id):
    backend = make_backend()
    target = resource()
    account = backend.resource_backend_id(target)
    assert account == f"a{run_id}_climate-run"
    info = backend.create_resource_with_id(target, account)
    assert info.backend_metadata == {"qos": "normal", "limits": {"cpu": 100.0, "mem": 5.0}}

    assert cluster.account(f"c{run_id}_uni")["parent"] == "root"
    assert cluster.account(f"p{run_id}_climate")["parent"] == f"c{run_id}_uni"
    own = cluster.account(account)
    assert own["parent"] == f"p{run_id}_climate"
    # cpu: 100 x 0.1 CPU-minutes; mem: 5 x 16 MB-minutes.
    assert own["GrpTRESMins"] == "cpu=10,mem=80M"

    backend.set_resource_limits(account, {"cpu": 300, "mem": 1})
    assert cluster.account(account)["GrpTRESMins"] == "cpu=30,mem=16M"
    assert backend.get_resource_limits(account) == {"cpu": 300.0, "mem": 1.0}

    # The account records the resource it was made for: that resource finds it its own (a
    # restart before Waldur heard of it), any other with the same slug finds it taken, even in
    # the same project, and is offered the next names.
    assert cluster.sacctmgr("show", "account", account, "format=Organization") == [
        [f"waldur-resource-{target.uuid}"]
    ]
    assert backend.claim(target, account) == "ours"
    with pytest.raises(DuplicateResourceError):
        backend.create_resource_with_id(target, account)
    namesake = resource()
    assert backend.claim(namesake, account) == "theirs"
    assert backend.backend_id_candidates(namesake)[:2] == [account, f"{account}-2"]
    assert backend.claim(namesake, f"{account}-2") == "free"
    cluster.sacctmgr("add", "account", f"{account}-3", "parent=root")  # by hand: no owner record
    assert backend.claim(namesake, f"{account}-3") == "unrecorded"
    # slurmdbd tells accounts apart by their first 42 characters: a long name is taken when an
    # account shares them, and numbered names put the number before that.
    long = resource(slug="x" * 56)
    names = backend.backend_id_candidates(long)
    assert len(names[0]) == 64 and names[1] == names[0][:40] + "-2"
    backend.create_resource_with_id(long, names[0])
    almost = resource(slug="x" * 55 + "z")
    assert backend.claim(almost, backend.resource_backend_id(almost)) == "theirs"
    assert backend.claim(almost, names[1]) == "free"


def test_flat_tree_under_a_parent_account(cluster, make_backend, run_id):
    parent = f"c{run_id}_flat"
    cluster.sacctmgr("add", "account", parent, "parent=root")
    backend = make_backend(parent_account=parent)
    target = resource(project="solo")
    account = backend.resource_backend_id(target)
    backend.create_resource_with_id(target, account)
    assert cluster.account(f"p{run_id}_solo")["parent"] == parent
    assert cluster.account(f"c{run_id}_uni") is None


def test_project_moved_to_another_customer_follows(cluster, make_backend, run_id):
    backend = make_backend()
    first = resource(project="moving", customer="uni", slug="one")
    backend.create_resource_with_id(first, backend.resource_backend_id(first))
    second = resource(project="moving", customer="lab", slug="two")
    backend.create_resource_with_id(second, backend.resource_backend_id(second))
    assert cluster.account(f"p{run_id}_moving")["parent"] == f"c{run_id}_lab"


def test_users_default_accounts_and_per_user_limits(cluster, make_backend, run_id):
    backend = make_backend(default_account_policy="individual")
    one, two = resource(slug="one"), resource(slug="two")
    first = backend.resource_backend_id(one)
    backend.create_resource_with_id(one, first)
    second = backend.resource_backend_id(two)
    backend.create_resource_with_id(two, second)
    user = f"u{run_id}"
    assert backend.add_users_to_resource(first, {user, "Root"}) == {user, "Root"}
    assert backend.add_user(first, user) is False  # already there
    assert cluster.users(first) == {user, "root"}
    backend.add_user(second, user)
    default = cluster.sacctmgr("show", "user", user, "format=DefaultAccount")[0][0]
    assert default == second  # `individual`: the allocation the user was added to last

    backend.set_resource_user_limits(first, user, {"cpu": 10})
    assert backend.get_resource_user_limits(first) == {user: {"cpu": 1}}  # backend units

    # Leaving the default account moves the default to the user's other allocation.
    assert backend.remove_users_from_resource(second, {user}) == [user]
    assert cluster.users(second) == set()
    assert cluster.sacctmgr("show", "user", user, "format=DefaultAccount")[0][0] == first
    assert backend.remove_user(second, user) is False


def test_qos_pause_downscale_restore_and_metadata(cluster, make_backend):
    backend = make_backend()
    target = resource()
    account = backend.resource_backend_id(target)
    backend.create_resource_with_id(target, account)
    assert backend.pause_resource(account) is True
    assert cluster.account(account)["qos"] == QOS_PAUSED
    assert backend.pause_resource(account) is False  # already paused: nothing written
    assert backend.get_resource_metadata(account)["qos"] == QOS_PAUSED
    assert backend.downscale_resource(account) is True
    assert backend.restore_resource(account) is True
    assert cluster.account(account)["qos"] == "normal"
    no_downscale = make_backend(qos_downscaled=None)
    assert no_downscale.downscale_resource(account) is False


def test_terminate_cancels_jobs_moves_defaults_and_leaves_nothing(cluster, make_backend, run_id):
    backend = make_backend(default_account_policy="individual")
    keep, gone = resource(slug="keep"), resource(slug="gone", project="other")
    kept = backend.resource_backend_id(keep)
    backend.create_resource_with_id(keep, kept)
    account = backend.resource_backend_id(gone)
    backend.create_resource_with_id(gone, account)
    backend.add_user(account, "root")  # root's default stays root: it has one already
    user = f"t{run_id}"
    backend.add_user(account, user)  # default: this allocation
    backend.add_user(kept, user)
    job = cluster.submit(account, "root", seconds=300)
    cluster.wait_job(job, ("RUNNING",))

    backend.delete_resource(gone.with_backend_id(account))
    assert cluster.job_state(job) == "CANCELLED"
    assert cluster.account(account) is None
    assert cluster.account(f"p{run_id}_other") is None  # its project had nothing else
    assert cluster.account(f"p{run_id}_climate") is not None
    assert cluster.sacctmgr("show", "user", user, "format=DefaultAccount")[0][0] == kept
    # Deleting again is a no-op, not an error.
    assert backend.delete_resource(gone.with_backend_id(account)) is None


def test_usage_of_a_job_split_at_any_instant_adds_up(slurm, make_backend):
    """What makes month boundaries safe: sacct clips a job to each window, nothing is lost."""
    backend = make_backend()
    target = resource()
    account = backend.resource_backend_id(target)
    backend.create_resource_with_id(target, account)
    backend.add_user(account, "root")
    started = datetime.now().replace(microsecond=0)
    job = slurm.submit(account, "root", seconds=4, cpus=3, gpus=1)
    slurm.wait_job(job, ("COMPLETED",), timeout=30)
    fmt = "%Y-%m-%dT%H:%M:%S"
    row = slurm.run("sacct", "-n", "-P", "-X", "-j", job, "--format=Start,End,ElapsedRaw").split(
        "|"
    )
    start = datetime.strptime(row[0], fmt)
    middle = (start + timedelta(seconds=2)).strftime(fmt)
    before, after = started - timedelta(minutes=1), datetime.now() + timedelta(minutes=1)

    def cpu_seconds(window):
        jobs = backend.client.get_usage_report([account], window)
        return sum(j.tres["cpu"] * j.seconds for j in jobs)

    whole = cpu_seconds((before.strftime(fmt), after.strftime(fmt)))
    first = cpu_seconds((before.strftime(fmt), middle))
    second = cpu_seconds((middle, after.strftime(fmt)))
    assert whole == 3 * int(row[2].strip()) > 0
    assert first > 0 and second > 0
    assert first + second == whole


def test_usage_report_in_waldur_units_for_many_accounts_in_one_call(slurm, make_backend, run_id):
    backend = make_backend()
    accounts = []
    for n in range(3):
        target = resource(slug=f"usage-{n}")
        accounts.append(backend.resource_backend_id(target))
        backend.create_resource_with_id(target, accounts[-1])
        backend.add_user(accounts[-1], "root")
    job = slurm.submit(accounts[0], "root", seconds=3, cpus=4, gpus=2)
    slurm.wait_job(job, ("COMPLETED",), timeout=30)
    elapsed = int(slurm.run("sacct", "-n", "-P", "-X", "-j", job, "--format=ElapsedRaw"))

    calls = []
    run = backend.client.execute_command
    backend.client.execute_command = lambda argv, silent=False: calls.append(argv) or run(argv)
    report = backend.get_usage_report(accounts)
    assert [argv[0].rsplit("/", 1)[-1] for argv in calls] == ["sacct"]

    minutes = elapsed / 60
    factor = {key: COMPONENTS[key]["unit_factor"] for key in COMPONENTS}
    expected = {
        "cpu": units.usage_to_waldur(4 * minutes, factor["cpu"]),
        "mem": units.usage_to_waldur(4 * 256 * minutes, factor["mem"]),
        "gpu": units.usage_to_waldur(2 * minutes, factor["gpu"]),
    }
    assert min(expected.values()) > 0
    assert report[accounts[0]] == {TOTAL_ACCOUNT_USAGE: expected, "root": expected}
    assert report[accounts[1]][TOTAL_ACCOUNT_USAGE] == {"cpu": 0, "mem": 0, "gpu": 0}
    # Last month's window holds nothing of this job.
    previous = (datetime.now().replace(day=1) - timedelta(days=1)).date()
    past = backend.get_usage_report_for_period(accounts, previous.year, previous.month)
    assert accounts[0] not in past


def test_ping_diagnostics_components_and_import_listing(cluster, make_backend, run_id):
    backend = make_backend()
    assert backend.ping() is True
    assert backend.diagnostics() is True
    assert {"cpu", "mem", "gres/gpu", "billing"} <= set(backend.list_components())
    target = resource()
    account = backend.resource_backend_id(target)
    backend.create_resource_with_id(target, account)
    listed = {r.backend_id: r for r in backend.importable_resources()}
    assert f"p{run_id}_climate" not in listed and f"c{run_id}_uni" not in listed
    assert listed[account].name.lower() == "climate run"  # Slurm 22.05 lowercases it, 24.11 not
    assert listed[account].project_slug == "climate"
    assert listed[account].limits == {"cpu": 100.0, "mem": 5.0}
    wrong = make_backend(cluster_name="nosuchcluster")
    assert wrong.ping() is False
    with pytest.raises(Exception, match="nosuchcluster"):
        wrong.ping(raise_exception=True)


@pytest.mark.skipif(os.getuid() != 0, reason="creating Unix users needs root")
def test_home_directories_only_when_enabled(slurm, make_backend, run_id, tmp_path):
    user = f"h{run_id}"
    home = tmp_path / "home" / user
    (tmp_path / "home").mkdir()
    skeleton = tmp_path / "skel"
    skeleton.mkdir()
    (skeleton / ".profile").write_text("# hello\n")
    subprocess.run(["useradd", "--no-create-home", "--home-dir", str(home), user], check=True)
    try:
        target = resource()
        off = make_backend()
        account = off.resource_backend_id(target)
        off.create_resource_with_id(target, account)
        off.add_user(account, user)
        off.process_existing_users({user})
        assert not home.exists()

        on = make_backend(create_homedirs=True, homedir_skeleton=str(skeleton))
        on.process_existing_users({user})
        assert (home / ".profile").read_text() == "# hello\n"
        assert home.stat().st_uid == pwd.getpwnam(user).pw_uid
        assert home.stat().st_mode & 0o777 == 0o700  # umask 0077
        assert on.create_user_homedirs({user}) == []  # exists: nothing to do
        assert on.create_user_homedirs({"nosuchuser-x"}) == []  # unknown to the system yet
    finally:
        subprocess.run(["userdel", user], check=False)
