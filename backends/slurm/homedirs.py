"""Home directories for users who get access to an allocation (on unless `create_homedirs` or
upstream's `enable_user_homedir_account_creation` is false).

`mkhomedir_helper` (from PAM) creates the directory named in the user's passwd entry, copies the
skeleton and applies the umask, exactly as a first login through pam_mkhomedir would. Users the
system does not know yet (directory services not synced) are skipped and tried again on the next
membership cycle.
"""

from __future__ import annotations

import logging
import os
import pwd
from collections.abc import Callable, Sequence

log = logging.getLogger("backends.slurm")

HELPER = "/sbin/mkhomedir_helper"


def passwd_home(username: str) -> str | None:
    """The home directory the system names for the user; None for a user it does not know."""
    try:
        return pwd.getpwnam(username).pw_dir
    except KeyError:
        return None


def ensure_homedir(
    username: str, umask: str, skeleton: str, run: Callable[[Sequence[str]], str]
) -> bool:
    """True when a home directory was created now."""
    try:
        entry = pwd.getpwnam(username)
    except KeyError:
        log.info("no home directory for %s yet: the system does not know the user", username)
        return False
    if os.path.isdir(entry.pw_dir):
        return False
    run([HELPER, username, umask, skeleton])
    log.info("created home directory %s for %s", entry.pw_dir, username)
    return True
