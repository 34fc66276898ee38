"""The `ldap` username plugin against the real slapd (`tests/services/ldap`): POSIX users made
by upstream's rules, read back with `ldapsearch`."""

from __future__ import annotations

import uuid

import pytest

from waldur_site_agent_actors.backends.exceptions import BackendError, ConfigurationError
from waldur_site_agent_actors.backends.ldap.usernames import LdapUsernameBackend
from waldur_site_agent_actors.backends.usernames import OfferingUserInfo
from waldur_site_agent_actors.config import plugins

pytestmark = pytest.mark.ldap


@pytest.fixture
def run() -> str:
    return uuid.uuid4().hex[:6]


@pytest.fixture
def directory(ldap, run):
    """This test's People and Groups OUs, an access group of each kind, the ldap settings."""
    with ldap.units(run) as ous:
        groups = f"{ous['groups_ou']},{ldap.base_dn}"
        ldap.add(
            f"dn: cn=vpn-{run},{groups}\nobjectClass: posixGroup\ncn: vpn-{run}\n"
            f"gidNumber: 6999\n\n"
            f"dn: cn=gpu-{run},{groups}\nobjectClass: groupOfNames\ncn: gpu-{run}\n"
            f"member: cn=admin,{ldap.base_dn}\n\n"
        )
        yield ldap.settings(
            uid_range_start=5000,
            uid_range_end=5999,
            gid_range_start=6000,
            gid_range_end=6998,
            access_groups=[
                {"name": f"vpn-{run}", "attribute": "memberUid"},
                {"name": f"gpu-{run}", "attribute": "member"},
            ],
            **ous,
        )


def person(first: str, last: str, **fields: str) -> OfferingUserInfo:
    return OfferingUserInfo(
        uuid=uuid.uuid4().hex,
        user_first_name=first,
        user_last_name=last,
        user_full_name=f"{first} {last}".strip(),
        **fields,
    )


def test_new_users_are_posix_entries_with_a_personal_group_and_access_groups(ldap, directory, run):
    plugin = LdapUsernameBackend(
        {
            "ldap": {
                **directory,
                "username_format": "first_letter_full_lastname",
                "waldur_username_attribute": "employeeNumber",
                "generate_vpn_password": True,
            }
        }
    )
    alice = person("Ålice", f"Andersen{run}", user_email=f"alice-{run}@example.org",
                   user_username=f"cuid-{run}")  # fmt: skip
    name = plugin.generate_username(alice)
    assert name == f"a.andersen{run}"
    entry = ldap.user(name, directory["people_ou"])
    assert entry["uidNumber"] == ["5000"] and entry["gidNumber"] == ["6000"]
    assert entry["homeDirectory"] == [f"/home/{name}"]
    assert entry["mail"] == [f"alice-{run}@example.org"]
    assert entry["employeeNumber"] == [f"cuid-{run}"]
    assert entry["userPassword"]  # the VPN password
    assert set(entry["objectClass"]) >= {"posixAccount", "inetOrgPerson"}
    personal = ldap.group(name, directory["groups_ou"])
    assert personal["gidNumber"] == ["6000"] and personal["memberUid"] == [name]
    assert ldap.group(f"vpn-{run}", directory["groups_ou"])["memberUid"] == [name]
    gpu = ldap.group(f"gpu-{run}", directory["groups_ou"])
    assert f"uid={name},{directory['people_ou']},{ldap.base_dn}" in gpu["member"]

    # The same name again: the first name's prefix grows, then a number is added.
    anna = person("Anna", f"Andersen{run}")
    assert plugin.generate_username(anna) == f"an.andersen{run}"
    assert plugin.generate_username(person("An", f"Andersen{run}")) == f"a.andersen{run}2"
    uids = {e["uidNumber"][0] for e in ldap.search(directory["people_ou"], "(uid=*)", "uidNumber")}
    assert uids == {"5000", "5001", "5002"}

    # Existing entries are found by email, then by the Waldur username.
    assert plugin.get_username(person("X", "Y", user_email=f"alice-{run}@example.org")) == name
    assert plugin.get_username(person("X", "Y", user_username=name)) == name
    assert plugin.get_username(person("X", "Y", user_email="nobody@example.org")) == ""


def test_profiles_follow_waldur(ldap, directory, run):
    plugin = LdapUsernameBackend({"ldap": directory})
    name = plugin.generate_username(person("Bob", f"Berg{run}"))
    assert name == f"bberg{run}"
    plugin.sync_user_profiles(
        [
            OfferingUserInfo(
                uuid="u1",
                username=name,
                user_first_name="Robert",
                user_last_name=f"Berg{run}",
                user_email=f"robert-{run}@example.org",
            ),
            OfferingUserInfo(uuid="u2", username=f"nobody-{run}", user_first_name="No"),
        ]
    )
    entry = ldap.user(name, directory["people_ou"])
    assert entry["givenName"] == ["Robert"]
    assert entry["cn"] == [f"Robert Berg{run}"]
    assert entry["mail"] == [f"robert-{run}@example.org"]
    assert ldap.user(f"nobody-{run}", directory["people_ou"]) is None


def test_hostile_and_unusable_names(ldap, directory, run):
    plugin = LdapUsernameBackend({"ldap": {**directory, "username_format": "waldur_username"}})
    made = plugin.generate_username(person("", "", user_username=f"$(id);*)(uid=*{run}"))
    assert made == f"iduid{run}"
    assert ldap.user(made, directory["people_ou"]) is not None
    with pytest.raises(BackendError, match="cannot make a username"):
        plugin.generate_username(person("李", "雷", user_username="8172634"))
    # Filter metacharacters in a lookup are escaped, so they match nothing.
    assert plugin.get_username(person("X", "Y", user_email="*")) == ""
    assert plugin.get_username(person("X", "Y", user_username="*")) == ""
    with pytest.raises(ConfigurationError, match="needs an `ldap` block"):
        LdapUsernameBackend({})


def test_the_username_sync_creates_directory_users(
    sim, consumer, fake_plugins, sync, ldap, directory
):
    """The core's sync with the `ldap` plugin, as the membership actor runs it."""
    fake_plugins.add(
        plugins.USERNAME_BACKENDS,
        "ldap",
        "waldur_site_agent_actors.backends.ldap.usernames:LdapUsernameBackend",
    )
    offering = sim.summary()["offerings"][0]
    project = sim.summary()["projects"][0]
    consumer.order(offering["url"], project["url"], {"cpu": 1, "mem": 1})
    named = sync("ldap", {"ldap": directory})
    rows = consumer._call("GET", "marketplace-offering-users/", offering_uuid=offering["uuid"])
    names = {row["username"] for row in rows if row["username"]}
    assert named == len(names) >= 2
    people = ldap.search(directory["people_ou"], "(objectClass=posixAccount)", "uid")
    assert {e["uid"][0] for e in people} == names
