"""Events of a backend's own system that the runtime listens to for a plugin.

A plugin whose backend is itself event-driven (the federation's Waldur B) registers a queue
there and returns where it is from `setup_target_event_subscriptions()`; the runtime owns the
connection (Web-STOMP), its reconnects and acknowledgements, and asks again after each reconnect,
so registration must be idempotent.
"""

from __future__ import annotations

import msgspec


class BrokerQueue(msgspec.Struct, frozen=True, kw_only=True):
    host: str
    port: int
    path: str
    use_tls: bool
    vhost: str
    login: str
    passcode: str
    queue: str

    def __repr__(self) -> str:  # the passcode is a token: never in a log line
        return f"BrokerQueue({self.login}@{self.host}:{self.port}{self.path} {self.queue})"
