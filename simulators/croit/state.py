"""What a Croit cluster holds for its S3 (RadosGW) side: users, their keys, quotas and buckets.

Objects have a size and nothing else; a test "writes" them with `put_object`, which enforces the
quotas the way RadosGW does and records the change in each user's stored-bytes history, the
series Croit's statistics graph `s3-user-data` is drawn from.
"""

from __future__ import annotations

import bisect
import math
import secrets
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

UNLIMITED = -1
BLOCK = 4096
NATIVE_STEP = 180
"""Seconds between two samples of Croit's statistics at full resolution."""


class QuotaExceeded(Exception):
    """What an S3 client gets (HTTP 403 QuotaExceeded) for a write over a quota."""


@dataclass
class Quota:
    """RadosGW's quota: sizes in bytes, also shown rounded up to whole KiB (`max_size_kb`).
    Croit sets sizes in KiB, so a ceiling set through Croit reads back rounded up."""

    enabled: bool = False
    max_size: int = UNLIMITED
    max_objects: int = UNLIMITED

    @property
    def max_size_kb(self) -> int:
        return -(-self.max_size // 1024) if self.max_size >= 0 else UNLIMITED

    def allows(self, size: int, objects: int) -> bool:
        if not self.enabled:
            return True
        if self.max_size >= 0 and size > self.max_size:
            return False
        return not (0 <= self.max_objects < objects)


@dataclass
class Bucket:
    name: str
    objects: dict[str, int] = field(default_factory=dict)
    measured: bool = False
    """Croit answers `usageSum: null` for a bucket its statistics have not seen a write in,
    and RadosGW's bucket stats have no `rgw.main` for it."""

    @property
    def size(self) -> int:
        return sum(self.objects.values())

    @property
    def size_actual(self) -> int:
        """What the objects take on disk: RadosGW counts each in whole 4 KiB blocks."""
        return sum(-(-size // BLOCK) * BLOCK for size in self.objects.values())


@dataclass
class S3User:
    uid: str
    name: str
    email: str = ""
    tenant: str = ""
    default_placement: str = ""
    default_storage_class: str = ""
    suspended: bool = False
    max_buckets: int = 1000
    caps: dict[str, str] = field(default_factory=dict)
    """RadosGW's admin capabilities: `users`, `buckets`, `info`, ... -> `read`, `write`, `*`."""
    created: float = 0.0
    user_quota: Quota = field(default_factory=Quota)
    bucket_quota: Quota = field(default_factory=Quota)
    keys: dict[str, str] = field(default_factory=dict)
    buckets: dict[str, Bucket] = field(default_factory=dict)
    history: list[tuple[float, int]] = field(default_factory=list)
    """(time, change of stored bytes), sorted by time; backdated writes are inserted in place."""

    @property
    def size(self) -> int:
        return sum(b.size for b in self.buckets.values())

    @property
    def object_count(self) -> int:
        return sum(len(b.objects) for b in self.buckets.values())

    def stored_at(self, moment: float) -> int | None:
        """Bytes stored at `moment`; None before the user existed."""
        if moment < self.created:
            return None
        index = bisect.bisect_right(self.history, (moment, math.inf))
        return sum(delta for _, delta in self.history[:index])


def access_key() -> str:
    """20 upper-case letters and digits, as RadosGW generates them."""
    alphabet = string.ascii_uppercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(20))


def secret_key() -> str:
    return secrets.token_urlsafe(30)[:40]


class CroitState:
    """The cluster, shared by the HTTP handler threads and the test; every method locks."""

    def __init__(self, clock: Callable[[], float] = time.time, generate_keys: bool = True) -> None:
        self.clock = clock
        self.generate_keys = generate_keys
        """RadosGW mints an access key for every user it creates, unless told not to."""
        self.lock = threading.RLock()
        self.users: dict[str, S3User] = {}

    # -- the management API's operations --------------------------------------------------

    def create_user(
        self,
        uid: str,
        name: str,
        email: str = "",
        tenant: str = "",
        default_placement: str = "",
        default_storage_class: str = "",
    ) -> S3User:
        with self.lock:
            user = S3User(
                uid=uid,
                name=name,
                email=email,
                tenant=tenant,
                default_placement=default_placement,
                default_storage_class=default_storage_class,
                created=self.clock(),
            )
            if self.generate_keys:
                user.keys[access_key()] = secret_key()
            self.users[uid] = user
            return user

    def delete_user(self, uid: str) -> None:
        """Croit purges the user's buckets and objects with it."""
        with self.lock:
            del self.users[uid]

    def user(self, uid: str) -> S3User | None:
        with self.lock:
            return self.users.get(uid)

    def storage_series(
        self, uid: str, start: float, end: float, max_points: int
    ) -> list[tuple[int, float | None]]:
        """Stored bytes sampled every NATIVE_STEP seconds from `start` to `end`, consolidated by
        averaging when that would be more than `max_points` samples (as Croit's graphs are).
        A sample before the user existed is None, and so is a consolidated point made only of
        such samples."""
        with self.lock:
            user = self.users[uid]
            first = int(start) - int(start) % NATIVE_STEP
            samples = [
                (moment, user.stored_at(moment))
                for moment in range(first, int(end) + 1, NATIVE_STEP)
            ]
        group = max(1, math.ceil(len(samples) / max(1, max_points)))
        points: list[tuple[int, float | None]] = []
        for index in range(0, len(samples), group):
            chunk = samples[index : index + group]
            known = [value for _, value in chunk if value is not None]
            points.append((chunk[0][0], sum(known) / len(known) if known else None))
        return points

    # -- what S3 clients do: the test side --------------------------------------------------

    def put_object(
        self, uid: str, bucket: str, key: str, size: int, at: float | None = None
    ) -> None:
        """Store (or overwrite) an object, refused with QuotaExceeded like RadosGW would."""
        with self.lock:
            user = self.users[uid]
            target = user.buckets.setdefault(bucket, Bucket(bucket))
            change = size - target.objects.get(key, 0)
            added = 0 if key in target.objects else 1
            if not user.bucket_quota.allows(target.size + change, len(target.objects) + added):
                raise QuotaExceeded(f"bucket quota of {uid} exceeded in {bucket}")
            if not user.user_quota.allows(user.size + change, user.object_count + added):
                raise QuotaExceeded(f"user quota of {uid} exceeded")
            target.objects[key] = size
            target.measured = True
            self._record(user, change, at)

    def delete_object(self, uid: str, bucket: str, key: str, at: float | None = None) -> None:
        with self.lock:
            user = self.users[uid]
            size = user.buckets[bucket].objects.pop(key)
            self._record(user, -size, at)

    def create_bucket(self, uid: str, bucket: str) -> None:
        with self.lock:
            self.users[uid].buckets.setdefault(bucket, Bucket(bucket))

    def _record(self, user: S3User, change: int, at: float | None) -> None:
        moment = self.clock() if at is None else at
        # A write dated before the user was created means it existed by then.
        user.created = min(user.created, moment)
        if change:
            bisect.insort(user.history, (moment, change))
