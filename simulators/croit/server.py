"""`CroitSimulator`: Croit's management API on 127.0.0.1 (an ephemeral port), as a context manager.

Authentication is Croit's: `Authorization: Bearer <API token>` (tokens can expire) or HTTP Basic
with a Croit user's name and password; anything else is 401. Tests reach into `state` to act as
S3 clients (`put_object`), and use `fail` to make the next matching request(s) fail.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from waldur_site_agent_actors.simulators.croit.api import ApiError, dispatch
from waldur_site_agent_actors.simulators.croit.state import CroitState
from waldur_site_agent_actors.simulators.http import Handler, Running, Server


@dataclass
class Fault:
    method: str
    path: str
    """An fnmatch pattern of the path, e.g. `/api/s3/users/*/quota`."""
    status: int
    message: str
    times: int
    delay: float


class CroitSimulator:
    def __init__(
        self,
        *,
        token: str = "croit-api-token-for-tests",  # noqa: S107 - made up, for tests
        username: str = "admin",
        password: str = "croit-admin-password",  # noqa: S107
        clock: Callable[[], float] = time.time,
        generate_keys: bool = True,
        certfile: str | Path | None = None,
        keyfile: str | Path | None = None,
    ) -> None:
        self.state = CroitState(clock=clock, generate_keys=generate_keys)
        self.token, self.username, self.password = token, username, password
        self.tokens: dict[str, float | None] = {token: None}
        """Valid API tokens and when each expires (None: never)."""
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str]] = []
        """(method, path) of every request; the query is left out, it may carry a secret key."""
        self._lock = threading.Lock()
        self._tls = (str(certfile), str(keyfile) if keyfile else None) if certfile else None
        self._running: Running | None = None

    @property
    def api_url(self) -> str:
        """The base URL operators configure; the API itself lives under `/api`."""
        assert self._running is not None, "the simulator is not running"
        scheme = "https" if self._tls else "http"
        return f"{scheme}://127.0.0.1:{self._running.port}"

    def start(self) -> CroitSimulator:
        server = Server(("127.0.0.1", 0), _handler_for(self))
        if self._tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self._tls)
            server.socket = context.wrap_socket(server.socket, server_side=True)
        self._running = Running(server, "croit-simulator")
        return self

    def stop(self) -> None:
        if self._running is not None:
            self._running.stop()
            self._running = None

    def __enter__(self) -> CroitSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- test controls -----------------------------------------------------------------------

    def fail(
        self,
        method: str,
        path: str,
        status: int = 500,
        message: str = "simulated failure",
        times: int = 1,
        delay: float = 0.0,
    ) -> None:
        """Answer the next `times` requests matching `method` and `path` with an error (status
        0: do not answer, only wait `delay`, for timeouts)."""
        with self._lock:
            self.faults.append(Fault(method, path, status, message, times, delay))

    def expire_token(self, token: str | None = None) -> None:
        self.tokens[token or self.token] = self.state.clock() - 1

    # -- the request path --------------------------------------------------------------------

    def authorized(self, header: str | None) -> bool:
        scheme, _, credentials = (header or "").partition(" ")
        if scheme == "Bearer":
            if credentials not in self.tokens:
                return False
            expires = self.tokens[credentials]
            return expires is None or expires > self.state.clock()
        if scheme == "Basic":
            try:
                decoded = base64.b64decode(credentials, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return False
            return decoded == f"{self.username}:{self.password}"
        return False

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.method == method and fnmatch.fnmatchcase(path, fault.path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def answer(self, method: str, target: str, header: str | None, body: bytes) -> tuple[int, Any]:
        parts = urlsplit(target)
        path = unquote(parts.path).rstrip("/") or "/"
        with self._lock:
            self.requests.append((method, path))
        if not self.authorized(header):
            return 401, {"message": "authentication required: a valid API token or password"}
        fault = self.take_fault(method, path)
        if fault is not None:
            time.sleep(fault.delay)
            if fault.status:
                return fault.status, {"message": fault.message}
        try:
            return dispatch(self.state, method, path, parse_qs(parts.query), body)
        except ApiError as exc:
            return exc.status, {"message": exc.message}


def _handler_for(simulator: CroitSimulator) -> type[Handler]:
    class CroitHandler(Handler):
        def dispatch(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, payload = simulator.answer(
                method, self.path, self.headers.get("Authorization"), body
            )
            if status == 0:  # a fault that never answers: drop the connection
                self.close_connection = True
                return
            data = b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status, HTTPStatus(status).phrase)
            if status == 401:
                self.send_header("WWW-Authenticate", 'Bearer realm="croit"')
            if data:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Silent: request lines may carry secret keys in their query."""

    return CroitHandler
