"""The `mam-*` commands of the stand-in: their options, what they print and how they fail.

Modelled on the MAM client conventions (documented for its predecessor Gold and kept by MAM):
`-a` account, `-u` user, `-f` fund, `-z` amount, `-s`/`-e` start/end time, `-A`/`-I`
active/inactive; a name may also be given without its flag; list commands take `--show`,
`--raw` and `--quiet`; changes print `Successfully <verb> <n> <Object>`. A refused request
prints its reason on stderr and exits 74; a malformed command line prints the usage and exits 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from waldur_site_agent_actors.simulators.moab.output import amount, flag, render
from waldur_site_agent_actors.simulators.moab.store import TIME_FORMAT, Refused, Store, now

DB_VARIABLE = "MAM_SIM_DB"
VERSION = "Moab Accounting Manager version 9.1.1"
EXIT_REFUSED = 74
EXIT_USAGE = 2

Handler = Callable[[Store, argparse.Namespace], str]


class Usage(Exception):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would exit; the caller decides instead
        raise Usage(f"{self.format_usage()}{self.prog}: error: {message}")


def credits(text: str) -> float:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"invalid amount: {text!r}") from None
    if not value.is_finite():
        raise argparse.ArgumentTypeError(f"invalid amount: {text!r}")
    return float(value)


def timestamp(text: str) -> str:
    for pattern in (TIME_FORMAT, "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, pattern).strftime(TIME_FORMAT)
        except ValueError:
            continue
    raise argparse.ArgumentTypeError(f"invalid time {text!r} (expected YYYY-MM-DD[ hh:mm:ss])")


def shown(value: float) -> str:
    """An amount as the user typed it: `100`, `12.5`."""
    return f"{Decimal(str(value)).normalize():f}"


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


# -- the parsers ----------------------------------------------------------------------------


def parser(prog: str) -> Parser:
    p = Parser(prog=prog, allow_abbrev=False)
    p.add_argument("-V", "--version", action="store_true", help="print the version and exit")
    p.add_argument("--debug", action="store_true")
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("--quiet", action="store_true", help="no heading; no success message")
    return p


def listing(prog: str) -> Parser:
    p = parser(prog)
    p.add_argument("--show", help="comma-separated attributes to print")
    p.add_argument("--raw", action="store_true", help="'|'-separated fields")
    return p


def activity(p: Parser) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument("-A", dest="active", action="store_true", default=None)
    group.add_argument("-I", dest="active", action="store_false")


def named(p: Parser, flag_name: str, dest: str, what: str) -> None:
    """`-a chem` or just `chem`, as every MAM command accepts for the object it acts on."""
    p.add_argument(flag_name, dest=dest, metavar=what)
    p.add_argument(f"{dest}_positional", nargs="?", metavar=what)


def pick(args: argparse.Namespace, dest: str, what: str) -> str:
    value = getattr(args, dest) or getattr(args, f"{dest}_positional")
    if not value:
        raise Usage(f"{what} is required")
    return str(value)


def columns(
    args: argparse.Namespace, available: dict[str, int], default: Sequence[str]
) -> list[str]:
    chosen = args.show.split(",") if args.show else list(default)
    for name in chosen:
        if name not in available:
            raise Refused(f"Invalid attribute: {name} (valid: {', '.join(available)})")
    return chosen


def table(
    args: argparse.Namespace,
    available: dict[str, int],
    default: Sequence[str],
    rows: list[list[str]],
) -> str:
    chosen = columns(args, available, default)
    picked = [[row[available[c]] for c in chosen] for row in rows]
    return render(chosen, picked, args.raw, args.quiet)


def done(args: argparse.Namespace, *lines: str) -> str:
    return "" if args.quiet else "".join(f"{line}\n" for line in lines)


# -- accounts --------------------------------------------------------------------------------

ACCOUNT_FIELDS = {"Name": 0, "Active": 1, "Users": 2, "Organization": 3, "Description": 4}


def list_accounts(store: Store, args: argparse.Namespace) -> str:
    rows = [
        [str(n), flag(a), str(users), str(o), str(d)]
        for n, a, d, o, users in store.accounts(args.account, args.user)
        if args.active is None or bool(a) == args.active
    ]
    return table(args, ACCOUNT_FIELDS, list(ACCOUNT_FIELDS), rows)


def create_account(store: Store, args: argparse.Namespace) -> str:
    name = pick(args, "account", "an account name")
    active = True if args.active is None else args.active
    store.create_account(name, args.description or "", args.organization or "", active)
    return done(args, "Successfully created 1 Account")


def modify_account(store: Store, args: argparse.Namespace) -> str:
    name = pick(args, "account", "an account name")
    changes: dict[str, object] = {}
    if args.description is not None:
        changes["description"] = args.description
    if args.organization is not None:
        changes["organization"] = args.organization
    if args.active is not None:
        changes["active"] = int(args.active)
    added = [u for item in args.add_users or [] for u in item.split(",") if u]
    removed = [u for item in args.del_users or [] for u in item.split(",") if u]
    if not (changes or added or removed):
        raise Usage("nothing to modify")
    store.modify_account(name, **changes)
    for user in added:
        store.add_member(name, user.lstrip("+-"), active=not user.startswith("-"))
    for user in removed:
        store.remove_member(name, user)
    lines = []
    if changes:
        lines.append("Successfully modified 1 Account")
    if added:
        lines.append(f"Successfully created {plural(len(added), 'AccountUser')}")
    if removed:
        lines.append(f"Successfully deleted {plural(len(removed), 'AccountUser')}")
    return done(args, *lines)


def delete_account(store: Store, args: argparse.Namespace) -> str:
    store.delete_account(pick(args, "account", "an account name"))
    return done(args, "Successfully deleted 1 Account")


# -- users -------------------------------------------------------------------------------------

USER_FIELDS = {
    "Name": 0,
    "Active": 1,
    "CommonName": 2,
    "EmailAddress": 3,
    "DefaultAccount": 4,
    "Description": 5,
}


def list_users(store: Store, args: argparse.Namespace) -> str:
    rows = [
        [str(n), flag(a), str(c), str(e), str(d), str(desc)]
        for n, a, c, e, d, desc in store.users(args.user, args.account)
        if args.active is None or bool(a) == args.active
    ]
    return table(args, USER_FIELDS, list(USER_FIELDS), rows)


def create_user(store: Store, args: argparse.Namespace) -> str:
    name = pick(args, "user", "a user name")
    store.create_user(name, args.common_name or "", args.email or "", args.description or "")
    return done(args, "Successfully created 1 User")


# -- funds -------------------------------------------------------------------------------------

FUND_FIELDS = {
    "Id": 0,
    "Name": 1,
    "Priority": 2,
    "Balance": 3,
    "Reserved": 4,
    "Effective": 5,
    "CreditLimit": 6,
    "Allocated": 7,
    "Constraints": 8,
    "Description": 9,
}
FUND_DEFAULT = ["Id", "Name", "Balance", "Allocated", "Constraints", "Description"]


def list_funds(store: Store, args: argparse.Namespace) -> str:
    rows = [
        [
            str(f.id),
            f.name,
            "0",
            amount(f.balance),
            amount(0),
            amount(f.balance),
            amount(0),
            amount(f.allocated),
            f"Account={f.account}",
            f.description,
        ]
        for f in store.funds(args.fund, args.account, args.user)
    ]
    return table(args, FUND_FIELDS, FUND_DEFAULT, rows)


def create_fund(store: Store, args: argparse.Namespace) -> str:
    if not args.account:
        raise Usage("a fund needs an account constraint (-a)")
    fund_id = store.create_fund(args.account, args.name or "", args.description or "")
    return done(args, f"Successfully created Fund {fund_id}")


def delete_fund(store: Store, args: argparse.Namespace) -> str:
    text = pick(args, "fund", "a fund id")
    if not text.isdigit():
        raise Usage(f"invalid fund id {text!r}")
    store.delete_fund(int(text))
    return done(args, "Successfully deleted 1 Fund")


def positive(args: argparse.Namespace) -> float:
    value = args.amount if args.amount is not None else args.amount_positional
    if value is None:
        raise Usage("an amount (-z) is required")
    if value <= 0:
        raise Refused(f"The amount must be positive (got {shown(value)})")
    return float(value)


def deposit(store: Store, args: argparse.Namespace) -> str:
    value = positive(args)
    fund = store.fund(args.fund, args.account)
    store.transact(fund, "Deposit", value)
    return done(args, f"Successfully deposited {shown(value)} credits into fund {fund.id}")


def withdraw(store: Store, args: argparse.Namespace) -> str:
    value = positive(args)
    fund = store.fund(args.fund, args.account)
    if value > fund.balance + 1e-9:
        raise Refused(
            f"Insufficient balance: fund {fund.id} has {shown(round(fund.balance, 3))} credits, "
            f"{shown(value)} requested"
        )
    store.transact(fund, "Withdraw", -value)
    return done(args, f"Successfully withdrew {shown(value)} credits from fund {fund.id}")


# -- usage -------------------------------------------------------------------------------------

USAGE_FIELDS = {
    "Id": 0,
    "Type": 1,
    "Instance": 2,
    "Account": 3,
    "User": 4,
    "Charge": 5,
    "StartTime": 6,
    "EndTime": 7,
}


def charge(store: Store, args: argparse.Namespace) -> str:
    if not (args.instance and args.account and args.user and args.amount is not None):
        raise Usage("-J, -a, -u and -z are required")
    if args.amount < 0:
        raise Refused(f"The charge must not be negative (got {shown(args.amount)})")
    end = args.end or now()
    store.charge(args.instance, args.account, args.user, args.amount, args.start or end, end)
    return done(args, f"Successfully charged job {args.instance} for {shown(args.amount)} credits")


def list_usage_records(store: Store, args: argparse.Namespace) -> str:
    rows = [
        [str(i), "Job", str(inst), str(a), str(u), amount(float(c)), str(s), str(e)]  # type: ignore[arg-type]
        for i, inst, a, u, c, s, e in store.usage_records(
            args.account, args.user, args.start, args.end
        )
    ]
    return table(args, USAGE_FIELDS, list(USAGE_FIELDS), rows)


# -- the command table ----------------------------------------------------------------------


def _build(command: str) -> tuple[Parser, Handler]:
    if command == "mam-list-accounts":
        p = listing(command)
        p.add_argument("-a", dest="account")
        p.add_argument("-u", dest="user")
        activity(p)
        return p, list_accounts
    if command in ("mam-create-account", "mam-modify-account"):
        p = parser(command)
        named(p, "-a", "account", "account")
        p.add_argument("-d", dest="description")
        p.add_argument("-o", dest="organization")
        activity(p)
        if command == "mam-create-account":
            return p, create_account
        p.add_argument("--add-user", "--add-users", dest="add_users", action="append")
        p.add_argument("--del-user", "--del-users", dest="del_users", action="append")
        return p, modify_account
    if command == "mam-delete-account":
        p = parser(command)
        named(p, "-a", "account", "account")
        return p, delete_account
    if command == "mam-list-users":
        p = listing(command)
        p.add_argument("-u", dest="user")
        p.add_argument("-a", dest="account")
        activity(p)
        return p, list_users
    if command == "mam-create-user":
        p = parser(command)
        named(p, "-u", "user", "user")
        p.add_argument("-n", dest="common_name")
        p.add_argument("-E", dest="email")
        p.add_argument("-d", dest="description")
        return p, create_user
    if command == "mam-list-funds":
        p = listing(command)
        p.add_argument("-f", dest="fund", type=int)
        p.add_argument("-a", dest="account")
        p.add_argument("-u", dest="user")
        return p, list_funds
    if command == "mam-create-fund":
        p = parser(command)
        p.add_argument("-a", dest="account")
        p.add_argument("-n", dest="name")
        p.add_argument("-d", dest="description")
        return p, create_fund
    if command == "mam-delete-fund":
        p = parser(command)
        named(p, "-f", "fund", "fund id")
        return p, delete_fund
    if command in ("mam-deposit", "mam-withdraw"):
        p = parser(command)
        p.add_argument("-f", dest="fund", type=int)
        p.add_argument("-a", dest="account")
        p.add_argument("-z", dest="amount", type=credits)
        p.add_argument("amount_positional", nargs="?", type=credits, metavar="amount")
        p.add_argument("-d", dest="description")
        return p, deposit if command == "mam-deposit" else withdraw
    if command == "mam-charge":
        p = parser(command)
        p.add_argument("-J", dest="instance")
        p.add_argument("-a", dest="account")
        p.add_argument("-u", dest="user")
        p.add_argument("-z", dest="amount", type=credits)
        p.add_argument("-s", dest="start", type=timestamp)
        p.add_argument("-e", dest="end", type=timestamp)
        return p, charge
    if command == "mam-list-usagerecords":
        p = listing(command)
        p.add_argument("-a", dest="account")
        p.add_argument("-u", dest="user")
        p.add_argument("-s", dest="start", type=timestamp)
        p.add_argument("-e", dest="end", type=timestamp)
        return p, list_usage_records
    raise KeyError(command)


COMMANDS = (
    "mam-list-accounts",
    "mam-create-account",
    "mam-modify-account",
    "mam-delete-account",
    "mam-list-users",
    "mam-create-user",
    "mam-list-funds",
    "mam-create-fund",
    "mam-delete-fund",
    "mam-deposit",
    "mam-withdraw",
    "mam-charge",
    "mam-list-usagerecords",
)


def main(command: str, argv: Sequence[str]) -> int:
    p, handler = _build(command)
    try:
        args = p.parse_args(list(argv))
    except Usage as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    if args.version:
        print(VERSION)
        return 0
    path = os.environ.get(DB_VARIABLE)
    if not path:
        print(f"{command}: {DB_VARIABLE} names no state file", file=sys.stderr)
        return EXIT_REFUSED
    store = Store(path)
    try:
        text = handler(store, args)
        store.commit()
    except Usage as exc:
        print(f"{p.format_usage()}{command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Refused as exc:
        print(exc, file=sys.stderr)
        return EXIT_REFUSED
    finally:
        store.close()
    sys.stdout.write(text)
    return 0
