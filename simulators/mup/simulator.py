"""`MupSimulator`: a stand-in MUP portal on 127.0.0.1, as a context manager for tests."""

from __future__ import annotations

import secrets

from waldur_site_agent_actors.simulators.http import Running
from waldur_site_agent_actors.simulators.mup.portal import ALLOCATION_TYPES, Portal
from waldur_site_agent_actors.simulators.mup.server import App, Server


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
        self._running: Running | None = None

    def start(self) -> MupSimulator:
        self._running = Running(Server(self._address, self.app), "mup-simulator")
        return self

    def stop(self) -> None:
        if self._running is not None:
            self._running.stop()
            self._running = None

    def __enter__(self) -> MupSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def api_url(self) -> str:
        assert self._running is not None, "not started"
        return f"http://{self._address[0]}:{self._running.port}/"

    @property
    def requests(self) -> list[tuple[str, str, int]]:
        return list(self.app.requests)

    def fail_next(self, status: int, times: int = 1) -> None:
        self.app.faults.extend([status] * times)
