"""Home directories for users who get access to an allocation (on unless `create_homedirs` or
upstream's `enable_user_homedir_account_creation` is false).

`mkhomedir_helper` (from PAM) creates the directory named in the user's passwd entry, copies the
skeleton and applies the umask, exactly as a first login through pam_mkhomedir would. Users the
system does not know yet (directory services not synced) are skipped and tried again on the next
membership cycle.

Creating one takes writing the parent directory, handing the new one to its user (CAP_CHOWN)
and the chown system calls. The packaged service unit allows none of it (`ProtectHome=yes`, no
capabilities, a system call filter without `@chown`) until its drop-in is installed, so before
the helper runs `obstacle` says what this process lacks: the helper would fail after making a
root-owned directory, and say nothing (it logs to syslog only).
"""

from __future__ import annotations

import logging
import os
import pwd
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from waldur_site_agent_actors.backends.exceptions import BackendError, CommandError

log = logging.getLogger("backends.slurm")

HELPER = "/sbin/mkhomedir_helper"
PERMISSION_DENIED = 6
"""mkhomedir_helper's exit status when a directory cannot be made or handed over."""
CAP_CHOWN, CAP_DAC_OVERRIDE = 0, 1
DROP_IN = "/usr/share/waldur-site-agent/homedirs.conf"
UNIT = "/usr/lib/systemd/system/waldur-site-agent.service"
UNIT_DROP_INS = "/etc/systemd/system/waldur-site-agent.service.d"
FIX = (
    "under the packaged service install its drop-in (install -D -m 644 "
    f"{DROP_IN} {UNIT_DROP_INS}/homedirs.conf && systemctl daemon-reload && systemctl restart "
    "waldur-site-agent), or set enable_user_homedir_account_creation: false"
)


class NotPermitted(BackendError):
    """This process may not create home directories at all: no use trying user after user."""


def passwd_home(username: str) -> str | None:
    """The home directory the system names for the user; None for a user it does not know."""
    try:
        return pwd.getpwnam(username).pw_dir
    except KeyError:
        return None


def ensure_homedir(
    username: str, umask: str, skeleton: str, run: Callable[[Sequence[str]], str]
) -> bool:
    """True when a home directory was created now; `NotPermitted` when this process cannot."""
    try:
        entry = pwd.getpwnam(username)
    except KeyError:
        log.info("no home directory for %s yet: the system does not know the user", username)
        return False
    if os.path.isdir(entry.pw_dir):
        return False
    parent = os.path.dirname(entry.pw_dir.rstrip("/")) or "/"
    problem = obstacle(parent)
    if problem:
        raise NotPermitted(problem)
    try:
        run([HELPER, username, umask, skeleton])
    except CommandError as exc:
        if exc.returncode == PERMISSION_DENIED:
            refused = f"{HELPER} was refused in {parent} (exit 6: permission denied)"
            raise NotPermitted(refused) from exc
        raise
    log.info("created home directory %s for %s", entry.pw_dir, username)
    return True


def obstacle(parent: str) -> str | None:
    """Why this process cannot create home directories in `parent`; None when it can."""
    if not os.access(HELPER, os.X_OK):
        return f"{HELPER} is not installed (Debian: libpam-modules-bin)"
    try:
        read_only = bool(os.statvfs(parent).f_flag & os.ST_RDONLY)
    except OSError as exc:
        return f"{parent}: {exc.strerror}"
    if read_only:
        return f"{parent} is read-only for this process (the unit's ProtectHome=yes?)"
    caps = _capabilities()
    if not caps & (1 << CAP_DAC_OVERRIDE) and not os.access(parent, os.W_OK | os.X_OK):
        return f"{parent} is not writable by this process (uid {os.geteuid()})"
    if not caps & (1 << CAP_CHOWN):
        return f"this process (uid {os.geteuid()}) may not hand a directory to its user (CAP_CHOWN)"
    if not _chown_allowed():
        return "the system call filter refuses chown (the unit's SystemCallFilter)"
    return None


def packaged_unit_refuses() -> bool:
    """The packaged service unit is installed and no drop-in of it lifts `ProtectHome=yes`
    (what a check run outside the service cannot see for itself)."""
    if not os.path.exists(UNIT):
        return False
    lifted = re.compile(r"^ProtectHome=(no|false|off|0)\s*$", re.M)
    drop_ins = sorted(Path(UNIT_DROP_INS).glob("*.conf"))
    return not any(lifted.search(p.read_text(errors="replace")) for p in drop_ins)


def _capabilities() -> int:
    """This process's effective capabilities; all of them for root where /proc cannot tell."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except OSError:
        pass
    return -1 if os.geteuid() == 0 else 0


def _chown_allowed() -> bool:
    """A chown that changes nothing, on a pipe of our own: only a seccomp filter refuses it."""
    read, write = os.pipe()
    try:
        os.fchown(read, -1, -1)
    except PermissionError:
        return False
    finally:
        os.close(read)
        os.close(write)
    return True
