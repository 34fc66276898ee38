"""The HTTP side: a stdlib ThreadingHTTPServer, authentication, faults, dispatch to handlers."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import struct
import threading
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from waldur_site_agent_actors.simulators import http as simulator_http
from waldur_site_agent_actors.simulators.waldur import (
    admin,
    agents,
    api_keys,
    backend_imports,
    catalog,
    consumer,
    identity_bridge,
    idp,
    offering_users,
    orders,
    resources,
    subscriptions,
    usages,
)
from waldur_site_agent_actors.simulators.waldur.errors import ApiError
from waldur_site_agent_actors.simulators.waldur.faults import Counters, Faults
from waldur_site_agent_actors.simulators.waldur.http import Request, Response, Router
from waldur_site_agent_actors.simulators.waldur.state import Obj, State

log = logging.getLogger("simulators.waldur")

NOT_FOUND_HTML = (
    b'<!doctype html><html lang="en"><head><title>Not Found</title></head>'
    b"<body><h1>Not Found</h1><p>The requested resource was not found on this server.</p>"
    b"</body></html>"
)
NO_CREDENTIALS = "Authentication credentials were not provided."


API_MODULES = (
    orders,
    resources,
    usages,
    offering_users,
    catalog,
    consumer,
    agents,
    subscriptions,
    backend_imports,
    api_keys,
    identity_bridge,
)


def build_router(app: App) -> Router:
    router = Router()
    for module in API_MODULES:
        module.register(router)
    admin.register(router, app)
    idp.register(router, app.issuer)
    return router


class App:
    """Everything a request needs; shared by all handler threads."""

    def __init__(self, state: State, faults: Faults, counters: Counters) -> None:
        self.state, self.faults, self.counters = state, faults, counters
        self.issuer = idp.TokenIssuer()
        self.router = build_router(self)
        self.stopping = threading.Event()
        self.extra: dict[str, Any] = {}

    def authenticate(self, header: str | None) -> Obj:
        if not header:
            raise ApiError(401, {"detail": NO_CREDENTIALS}, {"WWW-Authenticate": "Token"})
        parts = header.split()
        if len(parts) == 2 and parts[0].lower() == "bearer":
            bearer = self.issuer.user(self.state, parts[1])
            if bearer is None or not bearer["is_active"]:
                raise ApiError(401, {"detail": "Invalid token."}, {"WWW-Authenticate": "Token"})
            return bearer
        if not parts or parts[0].lower() != "token":
            raise ApiError(401, {"detail": NO_CREDENTIALS}, {"WWW-Authenticate": "Token"})
        if len(parts) == 1:
            message = "Invalid token header. No credentials provided."
        elif len(parts) > 2:
            message = "Invalid token header. Token string should not contain spaces."
        else:
            user = self.state.user_by_token(parts[1])
            if user is None:
                message = "Invalid token."
            elif not user["is_active"]:
                message = "User inactive or deleted."
            else:
                return user
        raise ApiError(401, {"detail": message}, {"WWW-Authenticate": "Token"})


class Handler(simulator_http.Handler):
    server_version = "WaldurSimulator/1.0"
    app: App

    def dispatch(self, method: str) -> None:
        started = time.perf_counter()
        app = self.server.app  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        lookup = "GET" if method == "HEAD" else method
        route, args, allowed = app.router.match(lookup, split.path)
        if route is None and not allowed:
            self.send_raw(404, NOT_FOUND_HTML, "text/html; charset=utf-8", {}, method)
            app.counters.record(f"{method} (unknown)", split.path, 404, 0.0)
            return
        key = route.key if route else f"{method} {split.path}"
        is_admin = split.path.startswith("/_sim/")
        rewrite: dict[str, str] = {}
        if not is_admin:
            decision = app.faults.decide(key)
            rewrite = decision.rewrite
            if decision.latency:
                app.stopping.wait(decision.latency)
            if decision.reset:
                app.counters.record(key, split.path, 0, time.perf_counter() - started)
                self.reset()
                return
            if decision.hang:
                app.stopping.wait(decision.hang)
                app.counters.record(key, split.path, 0, time.perf_counter() - started)
                self.reset()
                return
            if decision.status:
                headers = {}
                if decision.retry_after is not None:
                    headers["Retry-After"] = str(int(decision.retry_after))
                detail = {"detail": f"Injected fault: HTTP {decision.status}."}
                self.send_json(Response(decision.status, detail, headers), method)
                app.counters.record(key, split.path, decision.status, time.perf_counter() - started)
                return
        host = self.headers.get("Host") or "127.0.0.1"
        req = Request(
            method,
            split.path,
            parse_qs(split.query, keep_blank_values=True),
            body,
            f"http://{host}",
            app.state,
            args,
            template=key,
            user_agent=self.headers.get("User-Agent") or "",
        )
        response = self.handle_api(app, req, route, allowed)
        self.send_json(response, method, rewrite)
        if not is_admin:
            app.counters.record(key, split.path, response.status, time.perf_counter() - started)

    def handle_api(self, app: App, req: Request, route: Any, allowed: list[str]) -> Response:
        try:
            if route is None or not route.public:
                req.user = app.authenticate(self.headers.get("Authorization"))
            if route is None:
                return Response(
                    405,
                    {"detail": f'Method "{req.method}" not allowed.'},
                    {"Allow": ", ".join(allowed)},
                )
            with app.state.lock:
                try:
                    response = route.handler(req)
                    agents.note_agent_request(req, response.status)
                    return response
                finally:
                    app.state.commit()
        except ApiError as exc:
            return Response(exc.status, exc.body, exc.headers)
        except Exception:
            log.exception("%s %s failed", req.method, req.path)
            return Response(500, "Server Error (500)")

    def send_json(
        self, response: Response, method: str, rewrite: dict[str, str] | None = None
    ) -> None:
        if response.body is None:
            payload, ctype = b"", "application/json"
        elif isinstance(response.body, str) and response.status >= 500:
            payload, ctype = response.body.encode(), "text/html; charset=utf-8"
        else:
            text = json.dumps(response.body)
            for old, new in (rewrite or {}).items():
                text = text.replace(old, new)
            payload, ctype = text.encode(), "application/json"
        self.send_raw(response.status, payload, ctype, response.headers, method)

    def send_raw(
        self, status: int, payload: bytes, ctype: str, headers: dict[str, str], method: str
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Vary", "Accept, Cookie")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if method != "HEAD" and status not in (204, 304):
            self.wfile.write(payload)

    def reset(self) -> None:
        """Drop the connection with a TCP RST, as a crashing proxy would."""
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.wfile.flush()
        self.connection.close()


class Server(simulator_http.Server):
    def __init__(self, address: tuple[str, int], app: App) -> None:
        self.app = app
        super().__init__(address, Handler)
