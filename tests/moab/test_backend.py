"""The moab backend against the mam-* stand-in: every operation checked in MAM's own state."""

from datetime import UTC, datetime

import pytest

from waldur_site_agent_actors.backends.exceptions import (
    BackendError,
    CommandError,
    CommandNotFound,
    CommandTimeout,
    ConfigurationError,
    DuplicateResourceError,
    InvalidNameError,
)
from waldur_site_agent_actors.backends.moab.backend import MoabBackend
from waldur_site_agent_actors.backends.structures import TOTAL_ACCOUNT_USAGE, WaldurResource

DEPOSIT = {"measured_unit": "EUR", "accounting_type": "limit", "label": "Deposit"}


def backend(**settings):
    return MoabBackend(
        {"allocation_prefix": "w_", "project_prefix": "p_", **settings}, {"deposit": dict(DEPOSIT)}
    )


def resource(slug="climate", deposit=100, uuid="r" * 32, **fields):
    return WaldurResource(
        uuid=uuid,
        name=fields.pop("name", "Climate modelling | run 1\n"),
        slug=slug,
        limits={"deposit": deposit},
        project_uuid="p" * 32,
        project_slug=fields.pop("project_slug", "ocean"),
        project_name=fields.pop("project_name", "Ocean | dynamics"),
        **fields,
    )


def accounts(mam):
    return mam.ok(
        "mam-list-accounts", "--raw", "--quiet", "--show", "Name,Description,Organization"
    ).splitlines()


def funds(mam, account):
    rows = mam.ok(
        "mam-list-funds", "--raw", "--quiet", "--show", "Allocated,Balance", "-a", account
    )
    return [tuple(float(x) for x in line.split("|")) for line in rows.splitlines()]


def members(mam, account):
    return mam.ok("mam-list-users", "--raw", "--quiet", "--show", "Name", "-a", account).split()


def test_create_makes_an_account_with_a_fund_holding_the_deposit(mam):
    moab = backend()
    info = moab.create_resource(resource())
    assert info.backend_id == "w_climate"
    assert info.limits == {"deposit": 100}
    # Upstream's layout: the project account first (its organization itself, the project's name
    # as description), the allocation's organization naming it. Descriptions are one argv item:
    # spaces survive, `|` and newlines cannot break lines. The allocation's description ends
    # with the owner record: the resource it was made for.
    assert accounts(mam) == [
        "p_ocean|Ocean dynamics|p_ocean",
        f"w_climate|Climate modelling run 1 [waldur-resource-{'r' * 32}]|p_ocean",
    ]
    assert funds(mam, "p_ocean") == [(0.0, 0.0)], "the project account has its fund"
    assert moab.claim(resource(), "w_climate") == "ours"
    assert moab.claim(resource(uuid="s" * 32), "w_climate") == "theirs"
    assert funds(mam, "w_climate") == [(100.0, 100.0)]
    assert moab.get_resource_limits("w_climate") == {"deposit": 100}
    with pytest.raises(DuplicateResourceError):
        moab.create_resource(resource())


def test_limits_are_totals_raised_by_deposit_lowered_by_withdrawal(mam):
    moab = backend()
    moab.create_resource(resource())
    moab.set_resource_limits("w_climate", {"deposit": 250})
    assert funds(mam, "w_climate") == [(250.0, 250.0)]
    mam.ok("mam-create-user", "bob")
    mam.ok("mam-modify-account", "-a", "w_climate", "--add-user", "bob")
    mam.ok("mam-charge", "-J", "j1", "-a", "w_climate", "-u", "bob", "-z", "100")
    moab.set_resource_limits("w_climate", {"deposit": 120})
    assert funds(mam, "w_climate") == [(120.0, 20.0)]
    with pytest.raises(CommandError) as refused:
        moab.set_resource_limits("w_climate", {"deposit": 50})
    assert "Insufficient balance: fund 2 has 20 credits, 70 requested" in str(refused.value)
    assert refused.value.returncode == 74
    moab.set_resource_limits("w_climate", {"deposit": 120, "cpu": 5})
    assert funds(mam, "w_climate") == [(120.0, 20.0)], "no change, no command"


def test_an_account_without_a_fund_gets_one_when_its_limit_is_set(mam):
    mam.ok("mam-create-account", "-a", "w_half")
    backend().set_resource_limits("w_half", {"deposit": 30})
    assert funds(mam, "w_half") == [(30.0, 30.0)]


def test_users_are_created_in_mam_and_linked(mam):
    moab = backend()
    moab.create_resource(resource())
    mam.ok("mam-create-user", "amy")
    added = moab.add_users_to_resource("w_climate", {"amy", "bob", "bad name"})
    assert added == {"amy", "bob"}, "one bad name does not stop the others"
    assert members(mam, "w_climate") == ["amy", "bob"]
    assert mam.ok("mam-list-users", "--raw", "--quiet", "--show", "Name,DefaultAccount",
                  "-u", "bob") == "bob|w_climate\n"  # fmt: skip
    assert moab.add_user("w_climate", "bob") is False, "already linked"
    assert moab.pull_resource(resource(backend_id="w_climate")).users == ["amy", "bob"]
    assert moab.remove_users_from_resource("w_climate", {"bob", "carol"}) == ["bob"]
    assert members(mam, "w_climate") == ["amy"]
    with pytest.raises(InvalidNameError):
        moab.add_user("w_climate", "x|y")


def test_usage_is_the_month_of_charges_per_user_in_credits(mam):
    moab = backend()
    moab.create_resource(resource())
    moab.create_resource(resource(slug="other"))
    for user in ("amy", "bob"):
        moab.add_user("w_climate", user)
    this_month = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    charges = [("amy", "10.125"), ("amy", "5"), ("bob", "2.5")]
    for number, (user, amount) in enumerate(charges):
        mam.ok("mam-charge", "-J", f"j{number}", "-a", "w_climate", "-u", user, "-z", amount,
               "-e", this_month)  # fmt: skip
    mam.ok("mam-charge", "-J", "old", "-a", "w_climate", "-u", "bob", "-z", "99",
           "-e", "2020-01-15")  # fmt: skip
    report = moab.get_usage_report(["w_climate", "w_other"])
    assert report["w_climate"] == {
        "amy": {"deposit": 15.13},
        "bob": {"deposit": 2.5},
        TOTAL_ACCOUNT_USAGE: {"deposit": 17.63},
    }
    assert report["w_other"] == {TOTAL_ACCOUNT_USAGE: {"deposit": 0.0}}
    assert moab.get_usage_report_for_period(["w_climate"], 2020, 1)["w_climate"] == {
        "bob": {"deposit": 99.0},
        TOTAL_ACCOUNT_USAGE: {"deposit": 99.0},
    }
    assert moab.get_usage_report_for_period(["w_climate"], 2020, 2) == {}


def test_pause_deactivates_restore_activates_downscale_cannot(mam):
    moab = backend()
    moab.create_resource(resource())
    active = lambda: mam.ok("mam-list-accounts", "--raw", "--quiet", "--show", "Active",  # noqa: E731
                            "-a", "w_climate")  # fmt: skip
    assert moab.restore_resource("w_climate") is False, "already active"
    assert moab.pause_resource("w_climate") is True
    assert active() == "False\n"
    assert moab.get_resource_metadata("w_climate") == {
        "active": False,
        "fund_id": 2,
        "deposited": 100.0,
        "balance": 100.0,
    }
    assert moab.downscale_resource("w_climate") is False
    assert active() == "False\n"
    assert moab.restore_resource("w_climate") is True
    assert active() == "True\n"


def test_delete_removes_funds_and_account_and_is_idempotent(mam):
    moab = backend()
    moab.create_resource(resource())
    moab.add_user("w_climate", "bob")
    target = resource(backend_id="w_climate")
    assert moab.delete_resource(target) is None
    # The project's last allocation takes the project account (and its fund) with it.
    assert mam.ok("mam-list-accounts", "--raw", "--quiet") == ""
    assert mam.ok("mam-list-funds", "--raw", "--quiet") == ""
    assert moab.delete_resource(target) is None, "already gone: nothing to do"
    assert moab.pull_resource(target) is None


def test_a_project_account_is_shared_by_its_allocations_and_goes_with_the_last(mam):
    moab = backend()
    first = moab.create_resource(resource(slug="run1", uuid="a" * 32)).backend_id
    second = moab.create_resource(resource(slug="run2", uuid="b" * 32)).backend_id
    other = moab.create_resource(resource(slug="run3", uuid="c" * 32, project_slug="forest"))
    assert [line.split("|")[0::2] for line in accounts(mam)] == [
        ["p_forest", "p_forest"],
        ["p_ocean", "p_ocean"],
        ["w_run1", "p_ocean"],
        ["w_run2", "p_ocean"],
        ["w_run3", "p_forest"],
    ]
    assert len(funds(mam, "p_ocean")) == 1, "made once, with one fund"

    moab.delete_resource(resource(uuid="a" * 32, backend_id=first))
    assert "p_ocean" in mam.ok("mam-list-accounts", "--raw", "--quiet", "--show", "Name")
    moab.delete_resource(resource(uuid="b" * 32, backend_id=second))
    assert mam.ok("mam-list-accounts", "--raw", "--quiet", "--show", "Name").split() == [
        "p_forest",
        other.backend_id,
    ]
    assert funds(mam, "p_ocean") == []


def test_a_soft_delete_keeps_the_project_account(mam):
    moab = backend(soft_delete=True)
    moab.create_resource(resource())
    moab.delete_resource(resource(backend_id="w_climate"))
    assert mam.ok("mam-list-accounts", "--raw", "--quiet", "--show", "Name").split() == [
        "p_ocean",
        "w_climate",
    ]


def test_a_project_account_is_never_taken_from_a_resource(mam):
    # p_ocean is an allocation of another resource (an operator set both prefixes alike).
    owner = f"Ocean run [waldur-resource-{'e' * 32}]"
    mam.ok("mam-create-account", "-a", "p_ocean", "-d", owner, "-o", "p_elsewhere")
    moab = backend()
    with pytest.raises(BackendError, match=f"allocation of Waldur resource {'e' * 32}"):
        moab.create_resource(resource())
    assert [line.split("|")[0] for line in accounts(mam)] == ["p_ocean"]
    # Nor deleted as one: the last allocation of `elsewhere` leaves it alone.
    mam.ok("mam-create-account", "-a", "w_gone", "-o", "p_ocean")
    moab.delete_resource(resource(backend_id="w_gone", project_slug="ocean"))
    assert [line.split("|")[0] for line in accounts(mam)] == ["p_ocean"]


def test_a_project_account_without_its_fund_gets_one(mam):
    mam.ok("mam-create-account", "-a", "p_ocean", "-d", "Ocean", "-o", "p_ocean")
    backend().create_resource(resource())
    assert funds(mam, "p_ocean") == [(0.0, 0.0)]
    assert funds(mam, "w_climate") == [(100.0, 100.0)]


@pytest.mark.parametrize(
    "slug", ["", "a b", "x;touch pwned", "$(touch pwned)", "a|b", "-o", "a,b", "a=b", "é"]
)
def test_a_resource_without_a_usable_project_slug_is_refused_before_any_command(
    mam, tmp_path, slug
):
    # No mam-* client where this backend looks: any command would fail with CommandNotFound.
    # No prefix either: the slug alone is the project account's name.
    moab = backend(mam_bin_path=str(tmp_path / "nowhere"), project_prefix="")
    with pytest.raises(BackendError, match=r"project slug|project account"):
        moab.create_resource(resource(project_slug=slug))
    assert accounts(mam) == []


def test_owner_records_of_this_and_earlier_layouts_and_of_none(mam):
    moab = backend()
    # This agent before project accounts: the owner record in the organization.
    mam.ok(
        "mam-create-account", "-a", "w_old", "-d", "Old run", "-o", f"waldur-resource-{'a' * 32}"
    )
    # Upstream's agent: the project account as organization, no record.
    mam.ok("mam-create-account", "-a", "w_upstream", "-d", "Run", "-o", "p_ocean")
    assert moab.claim(resource(uuid="a" * 32), "w_old") == "ours"
    assert moab.claim(resource(uuid="b" * 32), "w_old") == "theirs"
    assert moab.claim(resource(), "w_upstream") == "unrecorded"
    assert moab.claim(resource(), "w_none") == "free"
    # A resource name is the customer's text: one ending like a record does not make the
    # account another resource's, the agent's own record comes last.
    mimic = f"Run [waldur-resource-{'b' * 32}]"
    moab.create_resource(resource(slug="mimic", uuid="c" * 32, name=mimic))
    assert moab.claim(resource(uuid="c" * 32), "w_mimic") == "ours"
    assert moab.claim(resource(uuid="b" * 32), "w_mimic") == "theirs"


def test_import_offers_allocations_by_project_without_project_accounts(mam):
    moab = backend()
    moab.create_resource(resource())
    mam.ok("mam-create-account", "-a", "w_hand", "-d", "By hand", "-o", "p_forest")
    offered = {
        r.backend_id: (r.name, r.project_slug, r.limits) for r in moab.importable_resources()
    }
    assert offered == {
        "w_climate": ("Climate modelling run 1", "ocean", {"deposit": 100}),
        "w_hand": ("By hand", "forest", {}),
    }


def test_soft_delete_keeps_the_account_inactive_with_nothing_left_to_spend(mam):
    moab = backend(soft_delete=True)
    moab.create_resource(resource())
    moab.add_user("w_climate", "bob")
    mam.ok("mam-charge", "-J", "j1", "-a", "w_climate", "-u", "bob", "-z", "30")
    target = resource(backend_id="w_climate")
    assert moab.delete_resource(target) is None
    assert funds(mam, "w_climate") == [(30.0, 0.0)], "charged credits cannot be withdrawn"
    assert mam.ok("mam-list-accounts", "--raw", "--quiet", "--show", "Active",
                  "-a", "w_climate") == "False\n"  # fmt: skip
    assert members(mam, "w_climate") == ["bob"]
    # A Restore adopts the account and deposits the limit again; membership sync reactivates it.
    moab.apply_resource_limits(target)
    assert funds(mam, "w_climate") == [(100.0, 70.0)]
    assert moab.restore_resource("w_climate") is True


def test_settings_components_and_ping(mam, tmp_path):
    with pytest.raises(ConfigurationError, match="'deposit' component"):
        MoabBackend({}, {"cpu": dict(DEPOSIT)})
    with pytest.raises(Exception, match="unknown"):
        MoabBackend({"colour": "red"}, {"deposit": dict(DEPOSIT)})
    forced = MoabBackend({}, {"deposit": {**DEPOSIT, "unit_factor": 60}})
    assert forced.unit_factor("deposit") == 1
    assert forced.list_components() == ["deposit"]
    assert forced.ping() is True
    assert forced.diagnostics() is True
    elsewhere = backend(mam_bin_path=str(mam.bin))
    assert elsewhere.ping() is True
    missing = backend(mam_bin_path=str(tmp_path / "nowhere"))
    assert missing.ping() is False
    with pytest.raises(CommandNotFound):
        missing.ping(raise_exception=True)


def test_a_hung_client_is_killed_after_the_timeout(mam, tmp_path):
    slow = tmp_path / "slow-bin"
    slow.mkdir()
    (slow / "mam-list-accounts").write_text("#!/bin/sh\nsleep 30\n")
    (slow / "mam-list-accounts").chmod(0o755)
    moab = backend(mam_bin_path=str(slow))
    moab.client.command_timeout = 0.5
    started = datetime.now()
    with pytest.raises(CommandTimeout):
        moab.ping(raise_exception=True)
    assert (datetime.now() - started).total_seconds() < 5


def test_per_user_limits_are_refused_not_ignored(mam):
    moab = backend()
    moab.create_resource(resource())
    assert moab.get_resource_user_limits("w_climate") == {}
    with pytest.raises(BackendError, match="no per-user limits"):
        moab.set_resource_user_limits("w_climate", "bob", {"deposit": 5})
