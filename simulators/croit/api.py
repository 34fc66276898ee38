"""The Croit REST endpoints the `ceph_s3` backend uses, with Croit's JSON shapes and errors.

Shapes follow Croit's published API (`RgwUserResponse`, the per-user bucket list with
`usageSum`, quota objects that store sizes in KiB, the `/stats` graph answer). Every error is
`{"message": ...}` with the status Croit uses: 400 invalid body, 404 unknown user or graph,
409 user or e-mail already taken, 500 what RadosGW itself refuses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from waldur_site_agent_actors.simulators.croit.state import UNLIMITED, CroitState, Quota, S3User

STORAGE_GRAPH = "s3-user-data"
UID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}")
CREATE_FIELDS = {"uid", "name", "email", "tenant", "defaultPlacement", "defaultStorageClass"}
QUOTA_FIELDS = {"enabled", "maxSize", "maxObjects"}


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class Call:
    state: CroitState
    args: tuple[str, ...]
    query: dict[str, list[str]]
    body: bytes

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def json(self) -> dict[str, Any]:
        try:
            data = json.loads(self.body or b"{}")
        except ValueError as exc:
            raise ApiError(400, f"malformed JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ApiError(400, "expected a JSON object")
        return data

    def user(self) -> S3User:
        user = self.state.user(self.args[0])
        if user is None:
            raise ApiError(404, f"S3 user {self.args[0]} not found")
        return user


Answer = tuple[int, Any]
Handler = Callable[[Call], Answer]
NO_CONTENT: Answer = (204, None)


def render_quota(quota: Quota) -> dict[str, Any]:
    return {
        "enabled": quota.enabled,
        "maxSize": quota.max_size,
        "maxObjects": quota.max_objects,
        "max_size_kb": quota.max_size_kb,
        "max_objects": quota.max_objects,
    }


def render_user(user: S3User) -> dict[str, Any]:
    return {
        "uid": user.uid,
        "name": user.name,
        "email": user.email,
        "tenant": user.tenant,
        "subusers": [],
        "suspended": user.suspended,
        "userQuota": render_quota(user.user_quota),
        "bucketQuota": render_quota(user.bucket_quota),
        "defaultPlacement": user.default_placement,
        "defaultStorageClass": user.default_storage_class,
    }


def list_users(call: Call) -> Answer:
    wanted = set(call.query.get("uid", []))
    with call.state.lock:
        users = [render_user(u) for u in call.state.users.values() if not wanted or u.uid in wanted]
    return 200, users


def create_user(call: Call) -> Answer:
    data = call.json()
    unknown = sorted(set(data) - CREATE_FIELDS)
    if unknown:
        raise ApiError(400, f"unknown field(s): {', '.join(unknown)}")
    uid, name = data.get("uid"), data.get("name")
    if not isinstance(uid, str) or not UID.fullmatch(uid):
        raise ApiError(400, "uid: required, letters, digits and _ . @ - only")
    if not isinstance(name, str) or not name.strip():
        raise ApiError(400, "name: required")
    if any(not isinstance(v, str) for v in data.values()):
        raise ApiError(400, "every field is a string")
    email = data.get("email", "")
    with call.state.lock:
        if uid in call.state.users:
            raise ApiError(409, f"S3 user {uid} already exists")
        if email and any(u.email == email for u in call.state.users.values()):
            raise ApiError(409, f"e-mail {email} is already in use by another S3 user")
        call.state.create_user(
            uid,
            name,
            email=email,
            tenant=data.get("tenant", ""),
            default_placement=data.get("defaultPlacement", ""),
            default_storage_class=data.get("defaultStorageClass", ""),
        )
    return NO_CONTENT


def delete_user(call: Call) -> Answer:
    with call.state.lock:
        call.user()
        call.state.delete_user(call.args[0])
    return NO_CONTENT


def list_keys(call: Call) -> Answer:
    user = call.user()
    with call.state.lock:
        keys = [{"user": user.uid, "access_key": a, "secret_key": s} for a, s in user.keys.items()]
    return 200, keys


def add_key(call: Call) -> Answer:
    user, access = call.user(), call.args[1]
    secret = call.param("secretKey")
    if not re.fullmatch(r"[A-Za-z0-9]{16,128}", access):
        raise ApiError(400, "access key: 16 to 128 letters and digits")
    if not secret or len(secret) < 8:
        raise ApiError(400, "secretKey: required, at least 8 characters")
    with call.state.lock:
        user.keys[access] = secret
    return NO_CONTENT


def delete_key(call: Call) -> Answer:
    user, access = call.user(), call.args[1]
    with call.state.lock:
        if access not in user.keys:
            # Measured on Croit: RadosGW's refusal comes through as a 500, not a 404.
            raise ApiError(500, f"unable to find access key {access}")
        del user.keys[access]
    return NO_CONTENT


def list_buckets(call: Call) -> Answer:
    user = call.user()
    with call.state.lock:
        buckets = [
            {
                "bucket": b.name,
                "owner": user.uid,
                "quota": render_quota(user.bucket_quota),
                "usageSum": (
                    {"size": b.size, "numObjects": len(b.objects)} if b.measured else None
                ),
            }
            for b in user.buckets.values()
        ]
    return 200, buckets


def quota_setter(scope: str) -> Handler:
    def handler(call: Call) -> Answer:
        user, data = call.user(), call.json()
        unknown = sorted(set(data) - QUOTA_FIELDS)
        if unknown:
            raise ApiError(400, f"unknown field(s): {', '.join(unknown)}")
        if not isinstance(data.get("enabled"), bool):
            raise ApiError(400, "enabled: required, true or false")
        for key in ("maxSize", "maxObjects"):
            value = data.get(key, UNLIMITED)
            if isinstance(value, bool) or not isinstance(value, int) or value < UNLIMITED:
                raise ApiError(400, f"{key}: an integer, -1 for no limit")
        with call.state.lock:
            quota: Quota = getattr(user, scope)
            quota.enabled = data["enabled"]
            if "maxSize" in data:
                size = data["maxSize"]
                quota.max_size = -(-size // 1024) * 1024 if size >= 0 else UNLIMITED
            if "maxObjects" in data:
                quota.max_objects = data["maxObjects"]
        return NO_CONTENT

    return handler


def stats(call: Call) -> Answer:
    if call.param("graph") != STORAGE_GRAPH:
        raise ApiError(404, f"graph {call.param('graph')!r} not found")
    uid = call.param("template-s3-user-name") or ""
    try:
        start = int(call.param("startTime") or -86400)
        end = int(call.param("endTime") or 0)
        max_points = int(call.param("maxDataPoints") or 1000)
    except ValueError as exc:
        raise ApiError(400, f"startTime, endTime and maxDataPoints are integers: {exc}") from exc
    now = call.state.clock()
    # Negative times count back from now, and an end of 0 means now.
    start_at = now + start if start < 0 else start
    end_at = now + end if end <= 0 else end
    graphs = []
    if call.state.user(uid) is not None and end_at > start_at:
        points = call.state.storage_series(uid, start_at, end_at, max_points)
        graphs.append({"name": uid, "datapoints": [{"t": t, "v": v} for t, v in points]})
    return 200, {"axis1": {"unit": "bytes", "graphs": graphs}}


ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    (method, re.compile(pattern), handler)
    for method, pattern, handler in [
        ("GET", r"/api/s3/users", list_users),
        ("POST", r"/api/s3/users", create_user),
        ("DELETE", r"/api/s3/users/([^/]+)", delete_user),
        ("GET", r"/api/s3/users/([^/]+)/keys", list_keys),
        ("PUT", r"/api/s3/users/([^/]+)/keys/([^/]+)", add_key),
        ("DELETE", r"/api/s3/users/([^/]+)/keys/([^/]+)", delete_key),
        ("GET", r"/api/s3/users/([^/]+)/buckets", list_buckets),
        ("PUT", r"/api/s3/users/([^/]+)/quota", quota_setter("user_quota")),
        ("PUT", r"/api/s3/users/([^/]+)/bucket-quota", quota_setter("bucket_quota")),
        ("GET", r"/api/stats", stats),
    ]
]


def dispatch(
    state: CroitState, method: str, path: str, query: dict[str, list[str]], body: bytes
) -> Answer:
    known_path = False
    for route_method, pattern, handler in ROUTES:
        match = pattern.fullmatch(path)
        if match is None:
            continue
        known_path = True
        if route_method == method:
            return handler(Call(state, match.groups(), query, body))
    if known_path:
        raise ApiError(405, f"{method} is not allowed on {path}")
    raise ApiError(404, f"no endpoint {path}")
