"""A `requests` client for the S3 part of Croit's management API.

Every request has a connect and a read timeout; idempotent requests (GET, PUT, DELETE) are
retried on connection failures and 502/503/504. Croit's answers become typed errors whose text
says what Croit refused and why, and never holds a credential: the token, password and secret
keys travel only in headers and query strings, which are neither logged nor put in messages.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Literal, NamedTuple
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from waldur_site_agent_actors.backends.croit_s3.errors import AdminError, Conflict, NotFound, send

log = logging.getLogger("backends.croit_s3.client")


class _HideSecretKeys(logging.Filter):
    """urllib3 logs each request line at DEBUG, query included, and both Croit (`secretKey`)
    and RadosGW (`secret-key`) take new secret keys in the query: their values are blanked in
    those records."""

    pattern = re.compile(r"((?:secretKey|secret-key)=)[^&\s\"]+")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "secretKey=" in message or "secret-key=" in message:
            record.msg, record.args = self.pattern.sub(r"\1***", message), None
        return True


_urllib3_log = logging.getLogger("urllib3.connectionpool")
if not any(isinstance(f, _HideSecretKeys) for f in _urllib3_log.filters):
    _urllib3_log.addFilter(_HideSecretKeys())

STORAGE_GRAPH = "s3-user-data"
STORAGE_GRAPH_USER = "template-s3-user-name"
MAX_DATA_POINTS = 2000
QuotaScope = Literal["user", "bucket"]
"""`user`: the user's total; `bucket`: each of the user's buckets."""


class BucketUsage(NamedTuple):
    name: str
    size: int
    objects: int


class CroitClient:
    def __init__(
        self,
        api_url: str,
        *,
        token: str = "",
        username: str = "",
        password: str = "",
        verify: bool | str = True,
        timeout: float = 30.0,
        retries: int = 2,
    ) -> None:
        self.api = api_url.rstrip("/") + "/api"
        self.timeout = timeout
        self.credential = "the API token" if token else f"the password of user {username!r}"
        self.verify = verify  # per request: a session's own is overridden by REQUESTS_CA_BUNDLE
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"
        else:
            self.session.auth = (username, password)
        self.session.headers["Accept"] = "application/json"
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

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
    ) -> Any:
        response = send(
            self.session,
            "Croit",
            self.api,
            method,
            self.api + path,
            path,
            self.timeout,
            log,
            params=params,
            json=body,
            verify=self.verify,
        )
        if response.status_code >= 400:
            raise self._error(method, path, response)
        return response.json() if response.content else None

    def _error(self, method: str, path: str, response: requests.Response) -> AdminError:
        status = response.status_code
        if status == 401:
            return AdminError(
                f"Croit rejected {self.credential}: check that it is valid and, for a token, "
                "that it has not expired",
                status,
            )
        if status == 403:
            return AdminError(
                f"Croit refused {method} {path} to {self.credential}: missing permission", status
            )
        message = f"Croit answered {method} {path} with {status}: {_message(response)}"
        if status == 404:
            return NotFound(message, status)
        if status == 409:
            return Conflict(message, status)
        return AdminError(message, status)

    # -- the S3 endpoints --------------------------------------------------------------------

    def users(self) -> list[dict[str, Any]]:
        return list(self.request("GET", "/s3/users") or [])

    def uids(self) -> list[str]:
        return [str(u.get("uid")) for u in self.users()]

    def user(self, uid: str) -> dict[str, Any] | None:
        """One user, or None; Croit has no single-user read, so the list is filtered."""
        found = self.request("GET", "/s3/users", params={"uid": uid}) or []
        return next((u for u in found if u.get("uid") == uid), None)

    def create_user(self, body: dict[str, str]) -> None:
        self.request("POST", "/s3/users", body=body)

    def delete_user(self, uid: str) -> None:
        self.request("DELETE", f"/s3/users/{_part(uid)}")

    def keys(self, uid: str) -> list[dict[str, str]]:
        return list(self.request("GET", f"/s3/users/{_part(uid)}/keys") or [])

    def add_key(self, uid: str, access_key: str, secret_key: str) -> None:
        """Croit takes the secret in the query string; it is never logged from there."""
        path = f"/s3/users/{_part(uid)}/keys/{_part(access_key)}"
        self.request("PUT", path, params={"secretKey": secret_key})

    def delete_key(self, uid: str, access_key: str) -> None:
        """RadosGW's refusal of an unknown key comes through Croit as a 500 naming the key."""
        try:
            self.request("DELETE", f"/s3/users/{_part(uid)}/keys/{_part(access_key)}")
        except AdminError as exc:
            if "unable to find access key" in str(exc):
                raise NotFound(str(exc), 404) from None
            raise

    def buckets(self, uid: str) -> list[BucketUsage]:
        buckets = []
        for bucket in self.request("GET", f"/s3/users/{_part(uid)}/buckets") or []:
            usage = bucket.get("usageSum") or {}  # null for a bucket without statistics yet
            buckets.append(
                BucketUsage(
                    str(bucket.get("bucket", "")),
                    int(usage.get("size") or 0),
                    int(usage.get("numObjects") or 0),
                )
            )
        return buckets

    def set_quota(self, uid: str, scope: QuotaScope, body: dict[str, Any]) -> None:
        path = f"/s3/users/{_part(uid)}/{'quota' if scope == 'user' else 'bucket-quota'}"
        self.request("PUT", path, body=body)

    def storage_series(self, uid: str, start: int, end: int) -> list[tuple[int, float | None]]:
        """The user's stored bytes over [start, end] (unix seconds), oldest first."""
        params = {
            "graph": STORAGE_GRAPH,
            STORAGE_GRAPH_USER: uid,
            "startTime": start,
            "endTime": end,
            "maxDataPoints": MAX_DATA_POINTS,
        }
        try:
            answer = self.request("GET", "/stats", params=params) or {}
        except NotFound as exc:
            # A 404 here is about the graph, not the user: do not let it read as "gone".
            raise AdminError(f"Croit has no graph {STORAGE_GRAPH!r}: {exc}", 404) from None
        graphs = (answer.get("axis1") or {}).get("graphs") or []
        if not graphs:
            return []
        return [(int(p["t"]), p.get("v")) for p in graphs[0].get("datapoints") or []]

    def close(self) -> None:
        self.session.close()


def _part(text: str) -> str:
    return quote(text, safe="")


def _message(response: requests.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text.strip()[:200] or response.reason
    if isinstance(data, dict):
        for key in ("message", "error", "detail"):
            if data.get(key):
                return str(data[key])[:200]
    return str(data)[:200]
