"""A `requests` client for RadosGW's Admin Ops API (`flavour: radosgw`), on the gateway itself.

Requests are signed with AWS SigV4 by the admin user's key (which needs the `users=*` and
`buckets=read` caps); every value travels in the query string, as Admin Ops takes it (a JSON body
is refused). RadosGW's answers are turned into the shapes the Croit client gives the backend, so
the backend speaks one language to both flavours. Errors are classified by RadosGW's JSON `Code`,
not by status alone: 403 means both "no such access key" and "not allowed". Secret keys travel in
the query; they are neither logged nor put in messages.
"""

from __future__ import annotations

import logging
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from waldur_site_agent_actors.backends.croit_s3 import sigv4
from waldur_site_agent_actors.backends.croit_s3.client import BucketUsage, QuotaScope
from waldur_site_agent_actors.backends.croit_s3.errors import AdminError, Conflict, NotFound, send

log = logging.getLogger("backends.croit_s3.radosgw")

NOT_FOUND = {"NoSuchUser", "NoSuchKey", "InvalidAccessKeyId"}
"""An access key RadosGW does not know is, to every caller here, a key already gone."""
CONFLICT = {"UserAlreadyExists", "EmailExists", "KeyExists"}
UNLIMITED = -1


class RadosGWClient:
    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        *,
        admin_path: str = "admin",
        region: str = "default",
        verify: bool | str = True,
        timeout: float = 30.0,
        retries: int = 2,
    ) -> None:
        self.api = endpoint.rstrip("/") + "/" + (admin_path.strip("/") or "admin")
        self.access_key, self._secret_key, self.region = access_key, secret_key, region
        self.credential = f"the admin key {access_key}"
        self.verify, self.timeout = verify, timeout
        self.session = requests.Session()
        retry = Retry(
            total=retries,
            read=False,  # an unanswered request may have been carried out: never replayed
            status_forcelist=(502, 503, 504),
            allowed_methods=frozenset({"GET", "PUT", "DELETE"}),
            backoff_factor=0.2,
            raise_on_status=False,
        )
        adapter = HTTPAdapter(max_retries=retry)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    # -- transport ---------------------------------------------------------------------------

    def request(self, method: str, resource: str, params: dict[str, Any]) -> Any:
        url = f"{self.api}/{resource}?{sigv4.query_string({**params, 'format': 'json'})}"
        headers = sigv4.sign(method, url, b"", self.access_key, self._secret_key, self.region)
        response = send(
            self.session,
            "RadosGW",
            self.api,
            method,
            url,
            resource,
            self.timeout,
            log,
            headers=headers,
            verify=self.verify,
        )
        if response.status_code >= 400:
            raise self._error(method, resource, response)
        return response.json() if response.content else None

    def _error(self, method: str, resource: str, response: requests.Response) -> AdminError:
        status = response.status_code
        try:
            code = str(response.json().get("Code", ""))
        except (ValueError, AttributeError):
            code = ""
        said = f"RadosGW answered {method} {resource} with {status} {code or response.reason}"
        if code in ("AccessDenied", "SignatureDoesNotMatch", "RequestTimeTooSkewed"):
            return AdminError(
                f"RadosGW refused {self.credential} ({code}): check the key, its secret, the "
                "clock, and that its user has the users=* and buckets=read caps",
                status,
            )
        if code == "NoSuchBucket":  # the admin path taken for a bucket's name
            return AdminError(
                f"RadosGW has no Admin Ops API at {self.api}: check admin_path (its "
                "rgw_admin_entry)",
                status,
            )
        if code in NOT_FOUND:
            return NotFound(said, status)
        if code in CONFLICT:
            return Conflict(said, status)
        return AdminError(said, status)

    # -- users ---------------------------------------------------------------------------------

    def uids(self) -> list[str]:
        answer = self.request("GET", "user", {"list": None}) or {}
        if answer.get("truncated"):
            log.warning("RadosGW cut the user list at %s entries", answer.get("count"))
        return [str(uid) for uid in answer.get("keys") or []]

    def users(self) -> list[dict[str, Any]]:
        """Every user, in full (one read each: Admin Ops lists only their ids)."""
        found = (self.user(uid) for uid in self.uids())
        return [user for user in found if user is not None]

    def user(self, uid: str) -> dict[str, Any] | None:
        try:
            info = self.request("GET", "user", {"uid": uid})
        except NotFound:
            return None
        return {
            "uid": info.get("user_id", uid),
            "name": info.get("display_name", ""),
            "email": info.get("email", ""),
            "suspended": bool(info.get("suspended")),
            "userQuota": _quota(info.get("user_quota")),
            "bucketQuota": _quota(info.get("bucket_quota")),
            "defaultPlacement": info.get("default_placement", ""),
            "defaultStorageClass": info.get("default_storage_class", ""),
            "keys": [
                {
                    "user": k.get("user"),
                    "access_key": k.get("access_key"),
                    "secret_key": k.get("secret_key"),
                }
                for k in info.get("keys") or []
            ],
        }

    def create_user(self, body: dict[str, str]) -> None:
        """A user holding no key: RadosGW would mint one Waldur never learns of otherwise."""
        params = {"uid": body["uid"], "display-name": body["name"], "generate-key": "False"}
        if body.get("email"):
            params["email"] = body["email"]
        if body.get("defaultPlacement"):
            params["default-placement"] = body["defaultPlacement"]
        self.request("PUT", "user", params)

    def delete_user(self, uid: str) -> None:
        """Without `purge-data`: RadosGW refuses while the user owns buckets (with the code
        BucketAlreadyExists), and a terminate that fails is recoverable, purged data is not."""
        try:
            self.request("DELETE", "user", {"uid": uid})
        except AdminError as exc:
            if exc.status == 409:
                raise AdminError(
                    f"S3 user {uid} still owns buckets: empty and remove them, then terminate "
                    "again",
                    409,
                ) from None
            raise

    # -- keys ----------------------------------------------------------------------------------

    def keys(self, uid: str) -> list[dict[str, str]]:
        user = self.user(uid)
        if user is None:
            raise NotFound(f"RadosGW has no S3 user {uid}", 404)
        return list(user["keys"])

    def add_key(self, uid: str, access_key: str, secret_key: str) -> None:
        params = {"key": None, "uid": uid, "access-key": access_key, "secret-key": secret_key}
        self.request("PUT", "user", params)

    def delete_key(self, uid: str, access_key: str) -> None:
        self.request("DELETE", "user", {"key": None, "uid": uid, "access-key": access_key})

    # -- buckets and quotas --------------------------------------------------------------------

    def buckets(self, uid: str) -> list[BucketUsage]:
        """Each bucket's bytes on disk (`size_actual`, as upstream reads) and objects; a bucket
        without statistics yet has no `rgw.main` and holds nothing."""
        found = []
        for bucket in self.request("GET", "bucket", {"uid": uid, "stats": "True"}) or []:
            usage = (bucket.get("usage") or {}).get("rgw.main") or {}
            found.append(
                BucketUsage(
                    str(bucket.get("bucket", "")),
                    int(usage.get("size_actual") or 0),
                    int(usage.get("num_objects") or 0),
                )
            )
        return found

    def set_quota(self, uid: str, scope: QuotaScope, body: dict[str, Any]) -> None:
        """Sizes in bytes (`max-size`), exact; both dimensions always sent, -1 for none."""
        params = {
            "quota": None,
            "uid": uid,
            "quota-type": scope,
            "enabled": "True" if body["enabled"] else "False",
            "max-size": int(body["maxSize"]),
            "max-objects": int(body["maxObjects"]),
        }
        self.request("PUT", "user", params)

    def close(self) -> None:
        self.session.close()


def _quota(quota: dict[str, Any] | None) -> dict[str, Any]:
    """A RadosGW quota as the Croit client gives it (`max_size` is exact; `max_size_kb` is
    RadosGW's rounded view of it and is not read)."""
    quota = quota or {}
    return {
        "enabled": bool(quota.get("enabled", False)),
        "maxSize": int(quota.get("max_size", UNLIMITED)),
        "maxObjects": int(quota.get("max_objects", UNLIMITED)),
    }
