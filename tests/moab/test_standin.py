"""The mam-* stand-in: what each command prints, its state, and how it fails (exit codes)."""

import functools
import os
import subprocess

from waldur_site_agent_actors.simulators.moab.commands import DB_VARIABLE, EXIT_REFUSED, EXIT_USAGE


def account_with_member(mam, account="chem", user="bob", deposit="100"):
    mam.ok("mam-create-account", "-a", account, "-d", "Chemistry dept", "-o", "org-1")
    mam.ok("mam-create-fund", "-a", account)
    mam.ok("mam-deposit", "-a", account, "-z", deposit)
    mam.ok("mam-create-user", "-u", user)
    mam.ok("mam-modify-account", "-a", account, "--add-user", f"+{user}")


def test_changes_print_what_they_did(mam):
    assert mam.ok("mam-create-account", "-a", "chem", "-d", "Chemistry dept") == (
        "Successfully created 1 Account\n"
    )
    assert mam.ok("mam-create-fund", "-a", "chem") == "Successfully created Fund 1\n"
    assert mam.ok("mam-deposit", "-f", "1", "-z", "100") == (
        "Successfully deposited 100 credits into fund 1\n"
    )
    assert mam.ok("mam-withdraw", "-a", "chem", "-z", "12.5") == (
        "Successfully withdrew 12.5 credits from fund 1\n"
    )
    assert mam.ok("mam-create-user", "bob") == "Successfully created 1 User\n"
    assert mam.ok("mam-modify-account", "-a", "chem", "--add-user", "+bob") == (
        "Successfully created 1 AccountUser\n"
    )
    assert mam.ok("mam-modify-account", "-a", "chem", "-I") == "Successfully modified 1 Account\n"
    assert mam.ok("mam-modify-account", "chem", "--del-user", "bob") == (
        "Successfully deleted 1 AccountUser\n"
    )
    assert mam.ok("mam-delete-fund", "-f", "1") == "Successfully deleted 1 Fund\n"
    assert mam.ok("mam-delete-account", "-a", "chem") == "Successfully deleted 1 Account\n"
    assert mam.ok("mam-create-account", "--quiet", "-a", "bio") == ""


def test_listings_table_raw_and_quiet(mam):
    account_with_member(mam)
    assert mam.ok("mam-list-accounts") == (
        "Name Active Users Organization Description\n"
        "---- ------ ----- ------------ --------------\n"
        "chem True   bob   org-1        Chemistry dept\n"
    )
    assert mam.ok("mam-list-accounts", "--raw", "--show", "Name,Description,Organization") == (
        "Name|Description|Organization\nchem|Chemistry dept|org-1\n"
    )
    assert mam.ok("mam-list-accounts", "--raw", "--quiet", "--show", "Name", "-a", "none") == ""
    assert mam.ok("mam-list-funds", "--raw", "--quiet", "--show", "Id,Allocated,Balance") == (
        "1|100.000|100.000\n"
    )
    assert mam.ok("mam-list-funds", "-a", "chem") == (
        "Id Name Balance Allocated Constraints  Description\n"
        "-- ---- ------- --------- ------------ -----------\n"
        "1       100.000 100.000   Account=chem\n"
    )
    assert mam.ok("mam-list-users", "--raw", "--quiet", "--show", "Name,DefaultAccount") == (
        "bob|chem\n"
    )


def test_charges_spend_the_fund_and_become_usage_records(mam):
    account_with_member(mam)
    mam.ok("mam-create-user", "amy")
    mam.ok("mam-modify-account", "-a", "chem", "--add-users", "amy")
    charged = mam.ok(
        "mam-charge", "-J", "job.1", "-a", "chem", "-u", "bob", "-z", "30",
        "-e", "2026-03-31 23:00:00",
    )  # fmt: skip
    assert charged == "Successfully charged job job.1 for 30 credits\n"
    mam.ok("mam-charge", "-J", "job.2", "-a", "chem", "-u", "amy", "-z", "2.25", "-e", "2026-04-01")
    assert mam.ok("mam-list-funds", "--raw", "--quiet", "--show", "Allocated,Balance") == (
        "100.000|67.750\n"
    )
    show = ("--raw", "--quiet", "--show", "Account,User,Charge")
    march = mam.ok("mam-list-usagerecords", *show, "-a", "chem", "-s", "2026-03-01",
                   "-e", "2026-04-01")  # fmt: skip
    assert march == "chem|bob|30.000\n", "a record belongs to the period it ended in"
    april = mam.ok("mam-list-usagerecords", *show, "-s", "2026-04-01", "-e", "2026-05-01")
    assert april == "chem|amy|2.250\n"
    assert mam.ok("mam-list-usagerecords", "-u", "amy").splitlines()[0].split() == [
        "Id", "Type", "Instance", "Account", "User", "Charge", "StartTime", "EndTime",
    ]  # fmt: skip


def test_members_and_default_accounts(mam):
    account_with_member(mam)
    mam.ok("mam-create-account", "-a", "bio")
    mam.ok("mam-modify-account", "-a", "bio", "--add-user", "bob")
    users = ("--raw", "--quiet", "--show", "Name")
    assert mam.ok("mam-list-users", *users, "-a", "bio") == "bob\n"
    assert mam.ok("mam-list-users", *users, "-a", "bio", "-u", "amy") == ""
    assert mam.ok("mam-list-accounts", "--raw", "--quiet", "--show", "Name", "-u", "bob") == (
        "bio\nchem\n"
    )
    mam.ok("mam-modify-account", "-a", "chem", "--del-user", "bob")
    assert mam.ok("mam-list-users", "--raw", "--quiet", "--show", "DefaultAccount") == "bio\n"
    mam.ok("mam-delete-account", "bio")
    assert mam.ok("mam-list-users", "--raw", "--quiet", "--show", "Name,DefaultAccount") == (
        "bob|\n"
    )


def test_refusals_exit_74_with_the_reason_on_stderr(mam):
    account_with_member(mam)
    cases = [
        (("mam-create-account", "-a", "chem"), "Account chem already exists"),
        (("mam-create-user", "bob"), "User bob already exists"),
        (("mam-modify-account", "-a", "nope", "-A"), "Account nope does not exist"),
        (("mam-modify-account", "-a", "chem", "--add-user", "eve"), "User eve does not exist"),
        (("mam-modify-account", "-a", "chem", "--add-user", "bob"),
         "User bob is already a member of account chem"),
        (("mam-modify-account", "-a", "chem", "--del-user", "amy"),
         "User amy is not a member of account chem"),
        (("mam-withdraw", "-a", "chem", "-z", "150"),
         "Insufficient balance: fund 1 has 100 credits, 150 requested"),
        (("mam-deposit", "-a", "chem", "-z", "-5"), "The amount must be positive (got -5)"),
        (("mam-deposit", "-f", "9", "-z", "5"), "Fund 9 does not exist"),
        (("mam-deposit", "-a", "bio", "-z", "5"), "No fund is constrained to account bio"),
        (("mam-create-fund", "-a", "bio"), "Account bio does not exist"),
        (("mam-list-accounts", "--show", "Name,Colour"), "Invalid attribute: Colour"),
        (("mam-charge", "-J", "j", "-a", "chem", "-u", "amy", "-z", "1"),
         "User amy is not an active member of account chem"),
    ]  # fmt: skip
    for argv, reason in cases:
        done = mam.run(*argv)
        assert done.returncode == EXIT_REFUSED, argv
        assert done.stderr.startswith(reason), (argv, done.stderr)
        assert done.stdout == ""
    assert mam.ok("mam-list-funds", "--raw", "--quiet", "--show", "Balance") == "100.000\n"


def test_two_funds_need_a_fund_id(mam):
    account_with_member(mam)
    mam.ok("mam-create-fund", "-a", "chem")
    done = mam.run("mam-deposit", "-a", "chem", "-z", "1")
    assert (done.returncode, done.stderr.strip()) == (
        EXIT_REFUSED,
        "Account chem has 2 funds; specify one with -f",
    )
    assert mam.ok("mam-deposit", "-a", "chem", "-f", "2", "-z", "1").endswith("fund 2\n")


def test_malformed_command_lines_exit_2_with_the_usage(mam):
    for argv in (
        ("mam-deposit", "-a", "chem", "-z", "lots"),
        ("mam-list-accounts", "--colour"),
        ("mam-create-account",),
        ("mam-modify-account", "-a", "chem"),
        ("mam-charge", "-J", "x", "-a", "chem", "-u", "bob", "-z", "1", "-e", "yesterday"),
    ):
        done = mam.run(*argv)
        assert done.returncode == EXIT_USAGE, argv
        assert done.stderr.startswith(f"usage: {argv[0]}"), done.stderr


def test_installed_executables_share_one_state_file(mam, tmp_path):
    """Each command is its own process, as the real clients are; the state file is baked into
    the scripts, so PATH alone is enough (the environment variable may still override it)."""
    env = {k: v for k, v in os.environ.items() if k != DB_VARIABLE}
    run = functools.partial(subprocess.run, capture_output=True, text=True, env=env, timeout=30)
    assert run([mam.bin / "mam-create-account", "-a", "chem"]).returncode == 0
    listed = run(["mam-list-accounts", "--raw", "--quiet", "--show", "Name"])
    assert (listed.returncode, listed.stdout) == (0, "chem\n")
    refused = run(["mam-create-account", "chem"])
    assert (refused.returncode, refused.stderr) == (EXIT_REFUSED, "Account chem already exists\n")
    elsewhere = run(
        ["mam-list-accounts", "--raw", "--quiet"], env={**env, DB_VARIABLE: str(tmp_path / "other")}
    )
    assert (elsewhere.returncode, elsewhere.stdout) == (0, "")
    assert run(["mam-list-funds", "-V"]).stdout == "Moab Accounting Manager version 9.1.1\n"
