"""`MupSimulator`: a stand-in MUP portal on 127.0.0.1, as a context manager for tests."""

from __future__ import annotations

import secrets
import threading

from simulators.mup.portal import ALLOCATION_TYPES, Portal
from simulators.mup.server import App, Server


class MupSimulator:
    """The MUP REST API the `mup` backend uses, stateful, behind HTTP Basic authentication.

    `portal` holds the state (inspect it, or feed usage with `portal.record_usage`);
    `fail_next(status, times)` answers the next requests with an error status, whatever they are;
    `requests` lists `(method, path, status)` of every request served.
    """

    def __init__(
        self,
        *,
        username: str = "waldur-agent",
        password: str | None = None,
        allocation_types: tuple[str, ...] = ALLOCATION_TYPES,
        auto_approve_users: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.username = username
        self.password = password or secrets.token_urlsafe(16)
        self.portal = Portal(allocation_types, auto_approve_users)
        self.app = App(self.portal, self.username, self.password)
        self._address = (host, port)
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> MupSimulator:
        self._server = Server(self._address, self.app)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="mup-simulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> MupSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def api_url(self) -> str:
        assert self._server is not None, "not started"
        return f"http://{self._address[0]}:{self._server.server_address[1]}/"

    @property
    def requests(self) -> list[tuple[str, str, int]]:
        return list(self.app.requests)

    def fail_next(self, status: int, times: int = 1) -> None:
        self.app.faults.extend([status] * times)
