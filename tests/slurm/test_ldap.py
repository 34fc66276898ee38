"""`ldap`: a posixGroup per allocation with its users, on the real cluster and the real slapd.

What the directory holds is read with `ldapsearch`, never with the code under test.
"""

from __future__ import annotations

import importlib.util

import msgspec
import pytest

from tests.e2e.harness import terminal, wait_for
from tests.slurm.conftest import resource
from tests.slurm.test_agent import agent_for, create  # noqa: F401 (the agent fixture)
from waldur_site_agent_actors.backends.exceptions import BackendError, InvalidNameError
from waldur_site_agent_actors.backends.slurm.settings import SlurmSettings

pytestmark = [pytest.mark.slurm, pytest.mark.ldap]


@pytest.fixture
def mode() -> str:
    return "cli"


@pytest.fixture
def units(ldap, run_id):
    with ldap.units(run_id) as ous:
        yield ous


@pytest.fixture
def directory(ldap, units):
    """`backend_settings.ldap` for this test's own OUs, gids from 7000."""
    return ldap.settings(gid_range_start=7000, gid_range_end=7999, **units)


def members(ldap, units, account):
    group = ldap.group(account, units["groups_ou"])
    return None if group is None else set(group.get("memberUid", []))


def test_an_allocation_has_a_posix_group_with_its_users_until_it_goes(
    cluster, ldap, units, directory, make_backend
):
    backend = make_backend(ldap=directory)
    one, two = resource(slug="one"), resource(slug="two")
    first = backend.resource_backend_id(one)
    backend.create_resource_with_id(one, first)
    second = backend.resource_backend_id(two)
    backend.create_resource_with_id(two, second)

    group = ldap.group(first, units["groups_ou"])
    assert set(group["objectClass"]) == {"posixGroup", "top"}
    gids = {int(group["gidNumber"][0]), int(ldap.group(second, units["groups_ou"])["gidNumber"][0])}
    assert gids == {7000, 7001}
    # The gid a Lustre project quota of the allocation's directory is keyed on.
    assert backend.project_groups.gid(first) == int(group["gidNumber"][0])
    assert members(ldap, units, first) == set()

    backend.add_users_to_resource(first, {"root", "nobody"})
    assert members(ldap, units, first) == {"root", "nobody"}
    assert cluster.users(first) == {"root", "nobody"}
    assert backend.add_user(first, "root") is False  # already in both: nothing changes
    assert members(ldap, units, first) == {"root", "nobody"}
    assert backend.remove_users_from_resource(first, {"nobody"}) == ["nobody"]
    assert members(ldap, units, first) == {"root"}
    assert cluster.users(first) == {"root"}

    backend.delete_resource(one.with_backend_id(first))
    assert ldap.group(first, units["groups_ou"]) is None
    assert cluster.account(first) is None
    assert ldap.group(second, units["groups_ou"]) is not None
    # Deleting again: no account, no group, no error.
    backend.delete_resource(one.with_backend_id(first))


def test_a_directory_failure_leaves_the_association_for_the_next_cycle(
    cluster, ldap, units, directory, make_backend
):
    backend = make_backend(ldap=directory)
    target = resource()
    account = backend.resource_backend_id(target)
    backend.create_resource_with_id(target, account)
    down = make_backend(ldap={**directory, "uri": "ldap://127.0.0.1:1"})
    with pytest.raises(BackendError, match="cannot reach the LDAP server"):
        down.add_user(account, "root")
    assert cluster.users(account) == set()  # no association without the group membership
    backend.add_user(account, "root")
    assert members(ldap, units, account) == {"root"}
    assert cluster.users(account) == {"root"}


def test_hostile_names_never_reach_the_directory(ldap, units, directory, make_backend):
    backend = make_backend(ldap=directory)
    target = resource()
    account = backend.resource_backend_id(target)
    backend.create_resource_with_id(target, account)
    for bad in ("a;b", "*)(uid=*", "x" * 200, "ünïcödé", "root,ou=People"):
        with pytest.raises(InvalidNameError):
            backend.add_user(account, bad)
        with pytest.raises(InvalidNameError):
            backend.project_groups.ensure(bad)
    assert members(ldap, units, account) == set()
    entries = ldap.search(units["groups_ou"], "(objectClass=posixGroup)", "cn")
    assert [e["cn"] for e in entries] == [[account]]


def test_the_whole_agent_keeps_the_group_with_the_team(
    ldap,
    units,
    directory,
    consumer,
    world,
    agent_for,  # noqa: F811
):
    offering, projects = world
    agent = agent_for(ldap=directory)
    resource_ = create(consumer, offering, projects[0], agent)
    account = resource_["backend_id"]
    wait_for(
        lambda: members(ldap, units, account) == {"aandersen", "bberg"},
        what="the team in the LDAP group",
        log=agent.log,
    )
    consumer.add_user(projects[0]["uuid"], consumer.user_uuid("carol"))
    consumer.remove_user(projects[0]["uuid"], consumer.user_uuid("bob"))
    wait_for(
        lambda: members(ldap, units, account) == {"aandersen", "cclark"},
        what="carol in, bob out of the group",
        log=agent.log,
    )
    order = consumer.terminate(resource_["uuid"])
    done = wait_for(lambda: terminal(consumer, order), what="terminate", log=agent.log)
    assert done["state"] == "done", done
    assert ldap.group(account, units["groups_ou"]) is None


def test_ldap_settings_are_upstreams_and_refused_without_ldap3(monkeypatch, directory):
    upstream = {
        "uri": "ldap://docker:389",
        "bind_dn": "cn=admin,dc=sofiatech,dc=bg",
        "bind_password": "e2e-ldap-password",
        "base_dn": "dc=sofiatech,dc=bg",
        "people_ou": "ou=People",
        "groups_ou": "ou=Groups",
        "uid_range_start": 5000,
        "uid_range_end": 6000,
        "gid_range_start": 800,
        "gid_range_end": 1000,
        "default_login_shell": "/bin/bash",
        "default_home_base": "/home",
        "username_format": "first_letter_full_lastname",
        "remove_user_on_deactivate": False,
        "waldur_username_attribute": "employeeNumber",
        "user_object_classes": ["inetOrgPerson", "posixAccount", "top"],
        "user_group_object_classes": ["posixGroup", "top"],
        "project_group_object_classes": ["posixGroup", "top"],
        "access_groups": [{"name": "vpnusrgroup", "attribute": "member"}],
    }
    loaded = msgspec.convert({"ldap": upstream}, SlurmSettings).ldap
    assert loaded is not None and loaded.groups_dn == "ou=Groups,dc=sofiatech,dc=bg"
    for bad, message in (
        ({"uri": "http://x"}, "must start with ldap"),
        ({"gid_range_start": 9, "gid_range_end": 1}, "above gid_range_end"),
        ({"access_groups": [{"name": "g", "attribute": "uniqueMember"}]}, "attribute"),
    ):
        with pytest.raises(msgspec.ValidationError, match=message):
            msgspec.convert({"ldap": {**upstream, **bad}}, SlurmSettings)
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "ldap3" else real(name, *a)
    )
    with pytest.raises(msgspec.ValidationError, match=r"ldap needs the ldap3 package"):
        msgspec.convert({"ldap": directory}, SlurmSettings)


def test_a_project_directory_s_lustre_quota_is_numbered_as_the_ldap_group(
    quotafs, ldap, units, directory, make_backend, run_id
):
    """As upstream: the gid of the allocation's group in the directory, not the system's."""
    base = quotafs.mount / f"projects-{run_id}"
    backend = make_backend(
        ldap=directory,
        project_directory={
            "enabled": True,
            "base_path": str(base),
            "set_acl": False,
            "lustre_quota": {"mount_point": str(quotafs.mount), "block_hardlimit": 1048576},
        },
    )
    target = resource()
    account = backend.resource_backend_id(target)
    backend.create_resource_with_id(target, account)
    gid = ldap.group(account, units["groups_ou"])["gidNumber"][0]
    lfs = quotafs.state("lfs-quotas.json")
    assert lfs["project"][str(quotafs.mount)][gid] == {"block_hard": "1048576"}
    assert lfs["directories"][str(base / account)] == int(gid)
