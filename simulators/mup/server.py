"""MUP's REST endpoints over HTTP: Basic authentication, JSON in and out, DRF-style errors.

Paths are MUP's own, trailing slash or not exactly as the portal has them; a path that differs
is a 404, as Django answers an unknown URL.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import threading
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from waldur_site_agent_actors.simulators import http as simulator_http
from waldur_site_agent_actors.simulators.mup.portal import Portal, PortalError

log = logging.getLogger("simulators.mup")

Handler = Callable[[Portal, list[str], dict[str, Any]], tuple[int, Any]]

NO_CREDENTIALS = "Authentication credentials were not provided."
BAD_CREDENTIALS = "Invalid username/password."


def _routes() -> list[tuple[str, re.Pattern[str], Handler]]:
    def ok(value: Any) -> tuple[int, Any]:
        return 200, value

    def created(value: Any) -> tuple[int, Any]:
        return 201, value

    n, s = r"(\d+)", r"([^/]+)"  # a numeric id; any one path segment
    table: list[tuple[str, str, Handler]] = [
        ("GET", "/api/research-fields/list/", lambda p, a, b: ok(p.research_fields)),
        ("GET", "/api/projects/list/", lambda p, a, b: ok(p.list_projects())),
        ("GET", f"/api/projects/view/{n}", lambda p, a, b: ok(p.project(int(a[0])))),
        ("GET", f"/api/projects/by-grant/{s}", lambda p, a, b: ok(p.project_by_grant(a[0]))),
        ("POST", "/api/projects/add/", lambda p, a, b: created(p.create_project(b))),
        (
            "PUT",
            f"/api/projects/{n}/activate",
            lambda p, a, b: ok(p.set_project_active(int(a[0]), True)),
        ),
        (
            "PUT",
            f"/api/projects/{n}/deactivate",
            lambda p, a, b: ok(p.set_project_active(int(a[0]), False)),
        ),
        (
            "GET",
            f"/api/projects/{n}/allocations/list",
            lambda p, a, b: ok(p.list_allocations(int(a[0]))),
        ),
        (
            "POST",
            f"/api/projects/{n}/allocations/add",
            lambda p, a, b: created(p.create_allocation(int(a[0]), b)),
        ),
        (
            "PUT",
            f"/api/projects/{n}/allocations/edit/{n}",
            lambda p, a, b: ok(p.edit_allocation(int(a[0]), int(a[1]), b)),
        ),
        (
            "GET",
            f"/api/projects/{n}/allocations/view/{n}",
            lambda p, a, b: ok(p.allocation(int(a[0]), int(a[1]))),
        ),
        (
            "GET",
            f"/api/projects/{n}/allocations/{n}/usage",
            lambda p, a, b: ok(p.allocation_usage(int(a[0]), int(a[1]))),
        ),
        (
            "GET",
            f"/api/projects/allocations/{s}",
            lambda p, a, b: ok(p.allocation_by_identifier(a[0])),
        ),
        ("GET", f"/api/projects/{n}/members/list", lambda p, a, b: ok(p.list_members(int(a[0])))),
        (
            "POST",
            f"/api/projects/{n}/members/add",
            lambda p, a, b: created(p.add_member(int(a[0]), b)),
        ),
        (
            "PUT",
            f"/api/projects/{n}/members/{n}/toggle-status",
            lambda p, a, b: ok(p.toggle_member(int(a[0]), int(a[1]), b)),
        ),
        ("POST", "/api/user/", lambda p, a, b: created(p.create_user(b))),
        ("GET", f"/api/user/by-email/{s}", lambda p, a, b: ok(p.user("email", a[0]))),
        ("GET", f"/api/user/by-username/{s}", lambda p, a, b: ok(p.user("username", a[0]))),
        ("GET", f"/api/user/view/{n}", lambda p, a, b: ok(p.user_by_id(int(a[0])))),
        ("POST", f"/api/user/{n}/myaccessid", lambda p, a, b: ok(p.set_myaccessid(int(a[0]), b))),
    ]
    return [(method, re.compile(path + "$"), handler) for method, path, handler in table]


ROUTES = _routes()


class App:
    """What every request thread shares: the portal, the API account, injected faults, a log."""

    def __init__(self, portal: Portal, username: str, password: str) -> None:
        self.portal, self.username, self.password = portal, username, password
        self.faults: deque[int] = deque()
        self.requests: list[tuple[str, str, int]] = []
        self._lock = threading.Lock()

    def next_fault(self) -> int | None:
        with self._lock:
            return self.faults.popleft() if self.faults else None

    def record(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self.requests.append((method, path, status))

    def check_credentials(self, header: str | None) -> None:
        """DRF's BasicAuthentication, message for message."""
        challenge = {"WWW-Authenticate": 'Basic realm="api"'}
        parts = (header or "").split()
        if not parts or parts[0].lower() != "basic":
            raise Unauthorized(NO_CREDENTIALS, challenge)
        if len(parts) == 1:
            raise Unauthorized("Invalid basic header. No credentials provided.", challenge)
        if len(parts) > 2:
            raise Unauthorized(
                "Invalid basic header. Credentials string should not contain spaces.", challenge
            )
        try:
            username, sep, password = base64.b64decode(parts[1]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            sep = ""
        if not sep:
            raise Unauthorized(
                "Invalid basic header. Credentials not correctly base64 encoded.", challenge
            )
        if (username, password) != (self.username, self.password):
            raise Unauthorized(BAD_CREDENTIALS, challenge)


class Unauthorized(Exception):
    def __init__(self, detail: str, headers: dict[str, str]) -> None:
        super().__init__(detail)
        self.detail, self.headers = detail, headers


class RequestHandler(simulator_http.Handler):
    server_version = "MupSimulator/1.0"

    def dispatch(self, method: str) -> None:
        app: App = self.server.app  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = urlsplit(self.path).path
        status, answer, headers = self.answer(app, method, path, body)
        app.record(method, path, status)
        payload = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def answer(
        self, app: App, method: str, path: str, body: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        fault = app.next_fault()
        if fault is not None:
            return fault, {"detail": f"Injected fault: HTTP {fault}."}, {}
        try:
            app.check_credentials(self.headers.get("Authorization"))
        except Unauthorized as exc:
            return 401, {"detail": exc.detail}, exc.headers
        allowed = []
        for route_method, pattern, handler in ROUTES:
            match = pattern.match(path)
            if match is None:
                continue
            if route_method != method:
                allowed.append(route_method)
                continue
            try:
                data = json.loads(body) if body.strip() else {}
            except ValueError as exc:
                return 400, {"detail": f"JSON parse error - {exc}"}, {}
            if not isinstance(data, dict):
                kind = type(data).__name__
                message = f"Invalid data. Expected a dictionary, but got {kind}."
                return 400, {"non_field_errors": [message]}, {}
            try:
                status, value = handler(app.portal, [unquote(g) for g in match.groups()], data)
            except PortalError as exc:
                return exc.status, exc.body, {}
            return status, value, {}
        if allowed:
            return 405, {"detail": f'Method "{method}" not allowed.'}, {"Allow": ", ".join(allowed)}
        return 404, {"detail": "Not found."}, {}


class Server(simulator_http.Server):
    def __init__(self, address: tuple[str, int], app: App) -> None:
        self.app = app
        super().__init__(address, RequestHandler)
