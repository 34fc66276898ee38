"""MUP's REST API as Python calls: Basic auth, JSON, timeouts, retries, readable errors.

Reads and PUTs (which set a whole object, so a replay is harmless) are retried on connection
failures and on the statuses a proxy or an overloaded portal answers with; a POST is sent once,
and the caller's next cycle, which looks before it creates, repeats it safely.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any
from urllib.parse import quote

import requests

from waldur_site_agent_actors.backends.exceptions import BackendError, BackendNotReadyError

log = logging.getLogger("backends.mup")

Obj = dict[str, Any]
TRANSIENT_STATUS = frozenset({429, 502, 503, 504})
CONNECT_TIMEOUT = 10.0


class MupError(BackendError):
    """MUP refused a request; the message carries MUP's own reasons, field by field."""

    def __init__(self, method: str, path: str, status: int, body: Any) -> None:
        self.status, self.body = status, body
        super().__init__(f"MUP refused {method} {path} (HTTP {status}): {reasons(body)}")


class MupUnavailable(BackendNotReadyError):
    """MUP did not answer, or answered that it is overloaded, after the retries."""


def reasons(body: Any) -> str:
    """DRF's error body as one line: `{"size": ["Too big."]}` -> `size: Too big.`"""
    if isinstance(body, dict):
        if set(body) == {"detail"}:
            return str(body["detail"])
        parts = []
        for field, messages in body.items():
            text = " ".join(map(str, messages)) if isinstance(messages, list) else str(messages)
            parts.append(text if field in ("non_field_errors", "detail") else f"{field}: {text}")
        return "; ".join(parts)
    return str(body)[:300]


def segment(value: object) -> str:
    """A value placed inside a URL path (an email, a grant number) as exactly one segment."""
    return quote(str(value), safe="@")


class MupApi:
    def __init__(
        self,
        api_url: str,
        username: str,
        password: str,
        *,
        timeout: float = 30.0,
        verify_ssl: bool = True,
        attempts: int = 3,
        backoff: float = 0.5,
    ) -> None:
        self.base = api_url.rstrip("/")
        self.username = username
        self.session = requests.Session()
        self.session.auth = (username, password)  # sent as a header; never part of a message
        self.session.verify = verify_ssl
        self.session.headers.update({"Accept": "application/json"})
        self.timeout = (min(CONNECT_TIMEOUT, timeout), timeout)
        self.attempts, self.backoff = attempts, backoff

    def request(self, method: str, path: str, body: Obj | None = None) -> Any:
        attempts = 1 if method == "POST" else self.attempts
        for attempt in range(1, attempts + 1):
            try:
                # `verify` per request: REQUESTS_CA_BUNDLE would override the session's.
                response = self.session.request(
                    method,
                    self.base + path,
                    json=body,
                    timeout=self.timeout,
                    verify=self.session.verify,
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                failure: Exception = MupUnavailable(
                    f"MUP at {self.base} did not answer {method} {path}: {type(exc).__name__}"
                )
            else:
                if response.status_code < 400:
                    return _json(method, path, response)
                answer = _decoded(response)
                if response.status_code == 401:
                    raise BackendError(
                        f"MUP refused the credentials of API user {self.username!r}: "
                        f"{reasons(answer)}"
                    )
                if response.status_code not in TRANSIENT_STATUS:
                    raise MupError(method, path, response.status_code, answer)
                failure = MupUnavailable(
                    f"MUP answered {method} {path} with HTTP {response.status_code}: "
                    f"{reasons(answer)}"
                )
            if attempt == attempts:
                raise failure
            delay = self.backoff * 2 ** (attempt - 1) * (0.75 + random.random() / 2)  # noqa: S311
            log.info("retrying %s %s in %.1f s: %s", method, path, delay, failure)
            time.sleep(delay)
        raise AssertionError("unreachable")

    def find(self, path: str) -> Obj | None:
        """GET one object; None when MUP says it does not exist."""
        try:
            return dict(self.request("GET", path))
        except MupError as exc:
            if exc.status == 404:
                return None
            raise

    # -- endpoints ----------------------------------------------------------------------------

    def research_fields(self) -> list[Obj]:
        return list(self.request("GET", "/api/research-fields/list/"))

    def projects(self) -> list[Obj]:
        return list(self.request("GET", "/api/projects/list/"))

    def project(self, project_id: int) -> Obj | None:
        return self.find(f"/api/projects/view/{project_id}")

    def project_by_grant(self, grant: str) -> Obj | None:
        return self.find(f"/api/projects/by-grant/{segment(grant)}")

    def create_project(self, data: Obj) -> Obj:
        return dict(self.request("POST", "/api/projects/add/", data))

    def set_project_active(self, project_id: int, active: bool) -> Obj:
        action = "activate" if active else "deactivate"
        return dict(self.request("PUT", f"/api/projects/{project_id}/{action}", {}))

    def allocations(self, project_id: int) -> list[Obj]:
        return list(self.request("GET", f"/api/projects/{project_id}/allocations/list"))

    def allocation_by_identifier(self, identifier: str) -> Obj | None:
        return self.find(f"/api/projects/allocations/{segment(identifier)}")

    def create_allocation(self, project_id: int, data: Obj) -> Obj:
        return dict(self.request("POST", f"/api/projects/{project_id}/allocations/add", data))

    def edit_allocation(self, allocation: Obj, **changes: Any) -> Obj:
        """PUT the allocation's writable fields back with `changes` applied."""
        body = {key: allocation[key] for key in ("type", "identifier", "size", "active", "project")}
        body.update(changes)
        path = f"/api/projects/{allocation['project']}/allocations/edit/{allocation['id']}"
        return dict(self.request("PUT", path, body))

    def allocation_usage(self, allocation: Obj) -> Obj:
        path = f"/api/projects/{allocation['project']}/allocations/{allocation['id']}/usage"
        return dict(self.request("GET", path))

    def members(self, project_id: int) -> list[Obj]:
        return list(self.request("GET", f"/api/projects/{project_id}/members/list"))

    def add_member(self, project_id: int, user: Obj) -> Obj:
        body = {"user_id": user["id"], "email": user["email"], "active": True}
        return dict(self.request("POST", f"/api/projects/{project_id}/members/add", body))

    def set_member_active(self, project_id: int, member_id: int, active: bool) -> Obj:
        path = f"/api/projects/{project_id}/members/{member_id}/toggle-status"
        return dict(self.request("PUT", path, {"active": active}))

    def user_by_email(self, email: str) -> Obj | None:
        return self.find(f"/api/user/by-email/{segment(email)}")

    def user_by_username(self, username: str) -> Obj | None:
        return self.find(f"/api/user/by-username/{segment(username)}")

    def register_user(self, data: Obj) -> Obj:
        return dict(self.request("POST", "/api/user/", data))

    def user(self, user_id: int) -> Obj | None:
        return self.find(f"/api/user/view/{int(user_id)}")

    def set_myaccessid(self, user_id: int, cuid: str) -> Obj:
        return dict(
            self.request("POST", f"/api/user/{int(user_id)}/myaccessid", {"myaccessid": cuid})
        )

    def close(self) -> None:
        self.session.close()


def _json(method: str, path: str, response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        raise BackendError(
            f"MUP answered {method} {path} with something other than JSON: {response.text[:120]!r}"
        ) from None


def _decoded(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:300]
