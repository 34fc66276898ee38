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
    return MoabBackend({"allocation_prefix": "w_", **settings}, {"deposit": dict(DEPOSIT)})


def resource(slug="climate", deposit=100, uuid="r" * 32, **fields):
    return WaldurResource(
        uuid=uuid,
        name="Climate modelling | run 1\n",
        slug=slug,
        limits={"deposit": deposit},
        project_uuid="p" * 32,
        **fields,
    )


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
    listed = mam.ok("mam-list-accounts", "--raw", "--quiet", "--show",
                    "Name,Description,Organization")  # fmt: skip
    # The description is one argv item: its spaces survive, `|` and newlines cannot break lines.
    # The organization records the resource the account was made for.
    assert listed == f"w_climate|Climate modelling run 1|waldur-resource-{'r' * 32}\n"
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
    assert "Insufficient balance: fund 1 has 20 credits, 70 requested" in str(refused.value)
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
    active = lambda: mam.ok("mam-list-accounts", "--raw", "--quiet", "--show", "Active")  # noqa: E731
    assert moab.restore_resource("w_climate") is False, "already active"
    assert moab.pause_resource("w_climate") is True
    assert active() == "False\n"
    assert moab.get_resource_metadata("w_climate") == {
        "active": False,
        "fund_id": 1,
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
    assert mam.ok("mam-list-accounts", "--raw", "--quiet") == ""
    assert mam.ok("mam-list-funds", "--raw", "--quiet") == ""
    assert moab.delete_resource(target) is None, "already gone: nothing to do"
    assert moab.pull_resource(target) is None


def test_soft_delete_keeps_the_account_inactive_with_nothing_left_to_spend(mam):
    moab = backend(soft_delete=True)
    moab.create_resource(resource())
    moab.add_user("w_climate", "bob")
    mam.ok("mam-charge", "-J", "j1", "-a", "w_climate", "-u", "bob", "-z", "30")
    target = resource(backend_id="w_climate")
    assert moab.delete_resource(target) is None
    assert funds(mam, "w_climate") == [(30.0, 0.0)], "charged credits cannot be withdrawn"
    assert mam.ok("mam-list-accounts", "--raw", "--quiet", "--show", "Active") == "False\n"
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
