"""`RadosGWSimulator`: a Ceph object gateway's Admin Ops API on 127.0.0.1 (an ephemeral port).

Requests under `/<admin_path>/` (default `admin`) are authenticated as RadosGW does (an S3
signature, V4 or V2, by a user's key; `auth.py`) and need that user's admin caps (`api.py`). The
admin user is an ordinary user of the cluster holding `users=*`, `buckets=*`, `info=read`; a test
can add users with fewer caps (`add_user`). The S3 data API is not reproduced: tests act as S3
clients through `state` (`put_object` enforces quotas as RadosGW does), as with the Croit
stand-in, whose cluster model this one shares.
"""

from __future__ import annotations

import fnmatch
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from waldur_site_agent_actors.simulators.croit.state import CroitState, S3User
from waldur_site_agent_actors.simulators.http import Handler, Running, Server
from waldur_site_agent_actors.simulators.radosgw.api import dispatch
from waldur_site_agent_actors.simulators.radosgw.auth import Refused, authenticate

ADMIN_CAPS = {"users": "*", "buckets": "*", "info": "read"}


@dataclass
class Fault:
    method: str
    resource: str
    """An fnmatch pattern of the Admin Ops resource (`user`, `bucket`)."""
    status: int
    code: str
    times: int


class RadosGWSimulator:
    def __init__(
        self,
        *,
        admin_access_key: str = "RGWADMINTESTKEY00001",
        admin_secret_key: str = "rgw-admin-secret-for-tests",  # noqa: S107 - made up, for tests
        admin_path: str = "admin",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state = CroitState(clock=clock)
        self.admin_path = admin_path.strip("/")
        self.admin_access_key, self.admin_secret_key = admin_access_key, admin_secret_key
        self.add_user("admin", admin_access_key, admin_secret_key, ADMIN_CAPS)
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str]] = []
        """(method, Admin Ops resource) of every request; never the query, it may hold a secret."""
        self._lock = threading.Lock()
        self._running: Running | None = None

    @property
    def endpoint(self) -> str:
        """The gateway's address: S3 clients' endpoint, with Admin Ops under `/admin`."""
        assert self._running is not None, "the simulator is not running"
        return f"http://127.0.0.1:{self._running.port}"

    def start(self) -> RadosGWSimulator:
        self._running = Running(Server(("127.0.0.1", 0), _handler_for(self)), "radosgw-simulator")
        return self

    def stop(self) -> None:
        if self._running is not None:
            self._running.stop()
            self._running = None

    def __enter__(self) -> RadosGWSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- test controls -----------------------------------------------------------------------

    def add_user(
        self, uid: str, access: str, secret: str, caps: dict[str, str] | None = None
    ) -> S3User:
        """A user made by the gateway's operator (`radosgw-admin user create`), with caps."""
        with self.state.lock:
            user = S3User(uid=uid, name=uid, created=self.state.clock(), caps=dict(caps or {}))
            user.keys[access] = secret
            self.state.users[uid] = user
            return user

    def fail(self, method: str, resource: str, status: int, code: str, times: int = 1) -> None:
        """Answer the next `times` requests of `method` on `resource` with RadosGW's error."""
        with self._lock:
            self.faults.append(Fault(method, resource, status, code, times))

    # -- the request path --------------------------------------------------------------------

    def _secret_of(self, access: str) -> str | None:
        with self.state.lock:
            return next(
                (u.keys[access] for u in self.state.users.values() if access in u.keys), None
            )

    def _take_fault(self, method: str, resource: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.method == method and fnmatch.fnmatchcase(resource, fault.resource):
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def answer(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, Any]:
        parts = urlsplit(target)
        prefix = f"/{self.admin_path}/"
        if not parts.path.startswith(prefix):
            raise Refused("NoSuchBucket", 404)  # the S3 data API is not reproduced
        resource = parts.path[len(prefix) :].strip("/")
        with self._lock:
            self.requests.append((method, resource))
        access = authenticate(
            method, parts.path, parts.query, headers, body, self._secret_of, self.state.clock()
        )
        fault = self._take_fault(method, resource)
        if fault is not None:
            raise Refused(fault.code, fault.status)
        with self.state.lock:
            caller = next(u for u in self.state.users.values() if access in u.keys)
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        return dispatch(self.state, caller, method, resource, params, body)


def _error(code: str) -> dict[str, str]:
    request = f"tx{secrets.token_hex(12)}-{int(time.time()):x}-default"
    return {"Code": code, "RequestId": request, "HostId": "stand-in-default-default"}


def _handler_for(simulator: RadosGWSimulator) -> type[Handler]:
    class RadosGWHandler(Handler):
        def dispatch(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                status, payload = simulator.answer(method, self.path, headers, body)
            except Refused as refused:
                status, payload = refused.status, _error(refused.code)
            data = b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status, HTTPStatus(status).phrase)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Silent: request lines carry secret keys in their query."""

    return RadosGWHandler
