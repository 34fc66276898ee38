"""SLURM names from Waldur data: checked before they reach any command line.

SLURM lowercases account and user names itself, so names are lowercased here too and compared
that way. A name is either acceptable as it is (after lowercasing) or refused with
`InvalidNameError`: nothing is silently rewritten, so two Waldur objects never end up sharing
an account because their names were "cleaned" into the same string.
"""

from __future__ import annotations

import re

from waldur_site_agent_actors.backends.commands import validate_name
from waldur_site_agent_actors.backends.exceptions import BackendError

ACCOUNT = re.compile(r"[a-z0-9][a-z0-9_.-]*")
USER = re.compile(r"[a-z0-9_][a-z0-9_.-]*")
QOS = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")
ACCOUNT_MAX = 64
KEY_LENGTH = 42
"""slurmdbd keys associations on the first 42 characters of an account's name (a MySQL index
prefix): an account whose name starts with the same 42 characters as an existing one cannot be
added ("Unspecified error"), so names that long must differ early."""
USER_MAX = 64
DESCRIPTION_MAX = 200

_UNSAFE_TEXT = re.compile(r"[\"'`\x00-\x1f\x7f]+")


def account(name: str, what: str = "account name") -> str:
    return validate_name(name.lower(), what=what, pattern=ACCOUNT, max_length=ACCOUNT_MAX)


def derived_account(prefix: str, slug: str, what: str) -> str:
    """`prefix + slug`, lowercased; a missing slug is an error, not an empty name."""
    if not slug:
        raise BackendError(f"cannot name the {what}: Waldur gave no slug")
    return account(prefix + slug, what=f"{what} {prefix + slug!r}")


def candidates(base: str, tries: int, first: int = 2) -> list[str]:
    """`base`, then `base-2`, `base-3`, ... (or from `-0` with `first=0`): the `tries` names
    tried when `base` belongs to others. A long `base` is shortened so that the suffix falls
    within the `KEY_LENGTH` characters slurmdbd tells accounts apart by."""
    names = [base]
    for n in range(first, first + tries - 1):
        suffix = f"-{n}"
        names.append(account(base[: KEY_LENGTH - len(suffix)] + suffix))
    return names


def same_key(name: str, other: str) -> bool:
    """Whether slurmdbd takes two account names for one."""
    return name.lower()[:KEY_LENGTH] == other.lower()[:KEY_LENGTH]


def user(name: str) -> str:
    return validate_name(name.lower(), what="username", pattern=USER, max_length=USER_MAX)


def qos(name: str, what: str = "QoS") -> str:
    return validate_name(name, what=what, pattern=QOS, max_length=ACCOUNT_MAX)


def description(text: str) -> str:
    """Free text for Description=/Organization=: no quotes, no control characters, one line.

    It is one argv item, so no shell sees it; sacctmgr itself strips quotes and would store
    a newline verbatim, which breaks its own line-based output.
    """
    cleaned = " ".join(_UNSAFE_TEXT.sub(" ", text).split())
    return cleaned[:DESCRIPTION_MAX]
