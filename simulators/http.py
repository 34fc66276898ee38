"""HTTP plumbing every simulator shares: keep-alive JSON servers on their own thread."""

from __future__ import annotations

import logging
import socket
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger("simulators.http")


class Handler(BaseHTTPRequestHandler):
    """Every verb goes to `dispatch(method)`; subclasses write the answer."""

    protocol_version = "HTTP/1.1"
    wbufsize = -1  # headers and body in one send, flushed after each request
    dispatch: Callable[[str], None]
    """Answers one request of `method`; each simulator's handler defines it."""

    def setup(self) -> None:
        super().setup()
        # Without it, Nagle's algorithm and the client's delayed ACK hold every keep-alive
        # answer back by ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self.dispatch("GET")

    def do_POST(self) -> None:
        self.dispatch("POST")

    def do_PUT(self) -> None:
        self.dispatch("PUT")

    def do_PATCH(self) -> None:
        self.dispatch("PATCH")

    def do_DELETE(self) -> None:
        self.dispatch("DELETE")

    def do_HEAD(self) -> None:
        self.dispatch("HEAD")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up (an agent killed or stopped mid-request) is normal here.
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            log.debug("client %s hung up", client_address)
            return
        super().handle_error(request, client_address)


class Running:
    """A server answering on its own daemon thread until `stop()`."""

    def __init__(self, server: Server, name: str) -> None:
        self.server = server
        self.thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name=name, daemon=True
        )
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
