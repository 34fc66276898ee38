"""RadosGW's Admin Ops API over the cluster model the Croit stand-in serves too.

Reproduced, in RadosGW's JSON shapes (Ceph squid), each behind its admin cap:

- `GET user?list` (users=read): `{"keys": [uids], "truncated": false, "count": n}`.
- `GET user?uid=` (users=read): the user: `user_id`, `display_name`, `email`, `suspended`
  (0/1), `keys`, `caps`, `user_quota`, `bucket_quota`, ...
- `PUT user?uid=&display-name=` (users=write; `email`, `generate-key`, `access-key`,
  `secret-key`, `max-buckets`, `default-placement`, `suspended`): the new user; a key is minted
  unless `generate-key=False` or a pair is given.
- `DELETE user?uid=` (users=write; `purge-data`): refused while the user owns buckets, unless
  `purge-data`.
- `PUT user?key&uid=&access-key=&secret-key=` (users=write): the user's keys; an access key the
  user holds already gets the new secret.
- `DELETE user?key&uid=&access-key=` (users=write).
- `GET user?quota&uid=&quota-type=user|bucket` (users=read): `enabled`, `check_on_raw`,
  `max_size` (bytes), `max_size_kb`, `max_objects`.
- `PUT user?quota&uid=&quota-type=` (users=write; `enabled`, `max-size`, `max-size-kb`,
  `max-objects`): only the values given change; a JSON body is refused (501).
- `GET bucket?uid=&stats=True` (buckets=read): each bucket with `usage.rgw.main` (`size`,
  `size_actual`, `num_objects`, ...), none for a bucket without statistics yet; without `stats`,
  the bucket names.
- `GET info` (info=read): the cluster's id.

Errors are `{"Code", "RequestId", "HostId"}` with RadosGW's codes and statuses as measured on
squid (where its documentation differs): `NoSuchUser` 404, `UserAlreadyExists` 409,
`EmailExists` 409, `KeyExists` 409 (another user's access key), `BucketAlreadyExists` 409 (a
user still owning buckets: RadosGW's own code for it), `InvalidAccessKeyId` 403 (an unknown key
to delete, as for authentication), `InvalidArgument` 400, `AccessDenied` 403 (a missing cap),
`NotImplemented` 501. Not reproduced: subusers, Swift keys, caps management, usage logs,
bucket operations other than stats, tenants.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from waldur_site_agent_actors.simulators.croit.state import (
    UNLIMITED,
    CroitState,
    Quota,
    S3User,
    access_key,
    secret_key,
)
from waldur_site_agent_actors.simulators.radosgw.auth import Refused

Answer = tuple[int, Any]


@dataclass
class Call:
    state: CroitState
    caller: S3User
    params: dict[str, str]
    body: bytes

    def need(self, cap: str, perm: str) -> None:
        held = {p.strip() for p in self.caller.caps.get(cap, "").split(",")}
        if not ({"*", perm} & held or held >= {"read", "write"}):
            raise Refused("AccessDenied")

    def uid(self) -> str:
        uid = self.params.get("uid", "")
        if not uid:
            raise Refused("InvalidArgument", 400)
        return uid

    def user(self) -> S3User:
        user = self.state.users.get(self.uid())
        if user is None:
            raise Refused("NoSuchUser", 404)
        return user

    def flag(self, name: str, default: bool) -> bool:
        value = self.params.get(name)
        if value is None:
            return default
        if value.lower() in ("true", "1"):
            return True
        if value.lower() in ("false", "0"):
            return False
        raise Refused("InvalidArgument", 400)

    def number(self, name: str) -> int | None:
        value = self.params.get(name)
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            raise Refused("InvalidArgument", 400) from None


def render_quota(quota: Quota) -> dict[str, Any]:
    return {
        "enabled": quota.enabled,
        "check_on_raw": False,
        "max_size": quota.max_size,
        "max_size_kb": max(quota.max_size_kb, 0),
        "max_objects": quota.max_objects,
    }


def render_keys(user: S3User) -> list[dict[str, str]]:
    return [{"user": user.uid, "access_key": a, "secret_key": s} for a, s in user.keys.items()]


def render_user(user: S3User) -> dict[str, Any]:
    return {
        "tenant": user.tenant,
        "user_id": user.uid,
        "display_name": user.name,
        "email": user.email,
        "suspended": int(user.suspended),
        "max_buckets": user.max_buckets,
        "subusers": [],
        "keys": render_keys(user),
        "swift_keys": [],
        "caps": [{"type": t, "perm": p} for t, p in sorted(user.caps.items())],
        "op_mask": "read, write, delete",
        "default_placement": user.default_placement,
        "default_storage_class": user.default_storage_class,
        "placement_tags": [],
        "bucket_quota": render_quota(user.bucket_quota),
        "user_quota": render_quota(user.user_quota),
        "temp_url_keys": [],
        "type": "rgw",
        "mfa_ids": [],
    }


def key_owner(state: CroitState, access: str) -> S3User | None:
    return next((u for u in state.users.values() if access in u.keys), None)


def get_user(call: Call) -> Answer:
    call.need("users", "read")
    if "list" in call.params:
        uids = sorted(call.state.users)
        return 200, {"keys": uids, "truncated": False, "count": len(uids)}
    if "quota" in call.params:
        return 200, render_quota(_quota_of(call))
    return 200, render_user(call.user())


def put_user(call: Call) -> Answer:
    call.need("users", "write")
    if "key" in call.params:
        return _put_key(call)
    if "quota" in call.params:
        return _put_quota(call)
    uid = call.uid()
    name = call.params.get("display-name", "")
    if not name:
        raise Refused("InvalidArgument", 400)
    email = call.params.get("email", "")
    if uid in call.state.users:
        raise Refused("UserAlreadyExists", 409)
    if email and any(u.email == email for u in call.state.users.values()):
        raise Refused("EmailExists", 409)
    access, secret = call.params.get("access-key"), call.params.get("secret-key")
    if access and key_owner(call.state, access) is not None:
        raise Refused("KeyExists", 409)
    generate = call.flag("generate-key", not access)
    user = S3User(
        uid=uid,
        name=name,
        email=email,
        default_placement=call.params.get("default-placement", ""),
        suspended=call.flag("suspended", False),
        max_buckets=call.number("max-buckets") or 1000,
        created=call.state.clock(),
    )
    if access:
        user.keys[access] = secret or secret_key()
    elif generate:
        user.keys[access_key()] = secret_key()
    call.state.users[uid] = user
    return 200, render_user(user)


def _put_key(call: Call) -> Answer:
    user = call.user()
    access = call.params.get("access-key") or access_key()
    owner = key_owner(call.state, access)
    if owner is not None and owner is not user:
        raise Refused("KeyExists", 409)
    user.keys[access] = call.params.get("secret-key") or secret_key()
    return 200, render_keys(user)


def _quota_of(call: Call) -> Quota:
    scope = call.params.get("quota-type")
    if scope not in ("user", "bucket"):
        raise Refused("InvalidArgument", 400)
    user = call.user()
    return user.user_quota if scope == "user" else user.bucket_quota


def _put_quota(call: Call) -> Answer:
    if call.body:
        raise Refused("NotImplemented", 501)  # measured on squid: only the query is read
    quota = _quota_of(call)
    size, size_kb = call.number("max-size"), call.number("max-size-kb")
    objects = call.number("max-objects")
    quota.enabled = call.flag("enabled", quota.enabled)
    if size is not None:
        quota.max_size = size if size >= 0 else UNLIMITED
    elif size_kb is not None:
        quota.max_size = size_kb * 1024 if size_kb >= 0 else UNLIMITED
    if objects is not None:
        quota.max_objects = objects if objects >= 0 else UNLIMITED
    return 200, None


def delete_user(call: Call) -> Answer:
    call.need("users", "write")
    user = call.user()
    if "key" in call.params:
        access = call.params.get("access-key", "")
        if access not in user.keys:
            raise Refused("InvalidAccessKeyId")
        del user.keys[access]
        return 200, None
    if user.buckets and not call.flag("purge-data", False):
        raise Refused("BucketAlreadyExists", 409)
    del call.state.users[user.uid]
    return 200, None


def get_bucket(call: Call) -> Answer:
    call.need("buckets", "read")
    user = call.user()
    if not call.flag("stats", False):
        return 200, sorted(user.buckets)
    return 200, [
        {
            "bucket": b.name,
            "tenant": user.tenant,
            "owner": user.uid,
            "placement_rule": user.default_placement or "default-placement",
            "index_type": "Normal",
            "num_shards": 11,
            "usage": {
                "rgw.main": {
                    "size": b.size,
                    "size_actual": b.size_actual,
                    "size_utilized": b.size,
                    "size_kb": -(-b.size // 1024),
                    "size_kb_actual": b.size_actual // 1024,
                    "size_kb_utilized": -(-b.size // 1024),
                    "num_objects": len(b.objects),
                }
            }
            if b.measured
            else {},
            "bucket_quota": render_quota(user.bucket_quota),
        }
        for b in user.buckets.values()
    ]


def get_info(call: Call) -> Answer:
    call.need("info", "read")
    return 200, {"info": {"storage_backends": [{"name": "rados", "cluster_id": "stand-in"}]}}


ROUTES: dict[tuple[str, str], Callable[[Call], Answer]] = {
    ("GET", "user"): get_user,
    ("PUT", "user"): put_user,
    ("DELETE", "user"): delete_user,
    ("GET", "bucket"): get_bucket,
    ("GET", "info"): get_info,
}


def dispatch(
    state: CroitState,
    caller: S3User,
    method: str,
    resource: str,
    params: dict[str, str],
    body: bytes,
) -> Answer:
    handler = ROUTES.get((method, resource))
    if handler is None:
        known = any(r == resource for _, r in ROUTES)
        raise Refused("MethodNotAllowed", 405) if known else Refused("NoSuchKey", 404)
    with state.lock:
        return handler(Call(state, caller, params, body))
