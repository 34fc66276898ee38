"""The `/metrics` listener: one thread answering each scrape with bytes rendered beforehand.

The actors share one interpreter with it, so what a scrape costs them is what it holds the GIL
for. http.server's handler took ~0.45 ms of the agent's CPU per scrape (a thread per request,
header parsing through the email package, a Date header), which a scraper polling 170 times a
second turned into a 12% slower order run (bench/metrics_load.py). Here a scrape is an accept,
one read, one `sendall` of a response whose headers and body were joined when the metrics were
last rendered, and a close (~0.1 ms of CPU, most of it in the kernel, with the GIL released).

- The exposition is rendered at most once per `SNAPSHOT_SECONDS` (prometheus_client's
  `generate_latest` takes ~10 ms of interpreter): a scrape within that time gets the same bytes.
- One scrape at a time, at most one per `MIN_INTERVAL` seconds: however many clients poll, the
  listener's share of the interpreter stays bounded. A client too slow to send its request in
  `CLIENT_TIMEOUT` is dropped (and holds the scrapes behind it that long).
- `GET /metrics` (or `/`) is answered 200, another path 404, another method 405; every answer
  closes the connection (HTTP/1.1 `Connection: close`, which Prometheus handles).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import threading
import time
from typing import Any

log = logging.getLogger("agent.metrics")

SNAPSHOT_SECONDS = 1.0
MIN_INTERVAL = 0.002  # at most 500 scrapes a second
CLIENT_TIMEOUT = 2.0
REQUEST_LIMIT = 8192  # bytes of request line and headers read; a scrape sends ~200


def response(status: str, body: bytes, content_type: str = "text/plain; charset=utf-8") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


NOT_FOUND = response("404 Not Found", b"only /metrics here\n")
NOT_ALLOWED = response("405 Method Not Allowed", b"GET only\n")


class Snapshot:
    """The whole 200 response for the metrics of `registry`, rendered at most once per
    SNAPSHOT_SECONDS, in the listener's thread (only it asks)."""

    def __init__(self, registry: Any) -> None:
        self.registry = registry
        self.answer = b""
        self.rendered = float("-inf")

    def current(self) -> bytes:
        if time.monotonic() - self.rendered >= SNAPSHOT_SECONDS:
            from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

            self.answer = response("200 OK", generate_latest(self.registry), CONTENT_TYPE_LATEST)
            self.rendered = time.monotonic()
        return self.answer


class Listener:
    """Serves `snapshot` on (address, port) from its own daemon thread until `stop`.

    Every blocking call gives the interpreter up and takes it back, and taking it back may wait
    for an actor's switch interval and make it switch: a scrape makes as few as it can (a
    blocking accept, one recv, one send, a close; the client's timeout is the kernel's
    SO_RCVTIMEO/SO_SNDTIMEO, not Python's poll before each call). In a synthetic test (threads
    doing Python work and I/O, 170 scrapes a second) http.server's handler took 20-33% of their
    throughput, this one an amount within the noise (-5% to +4%).
    """

    def __init__(self, address: str, port: int, snapshot: Snapshot) -> None:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        self.socket = socket.create_server((address, port), family=family, backlog=64)
        self.socket.setblocking(True)
        self.snapshot = snapshot
        self.stopping = False
        self.thread = threading.Thread(target=self.serve, name="metrics-listener", daemon=True)
        self.thread.start()

    def serve(self) -> None:
        last = float("-inf")
        while not self.stopping:
            # A flood of scrapes is served slower rather than taken from the actors: sleeping
            # gives the interpreter up (only when scrapes come faster than MIN_INTERVAL).
            wait = last + MIN_INTERVAL - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            try:
                client, _ = self.socket.accept()
            except OSError:
                continue  # the client gave up before we accepted, or `stop` shut us down
            last = time.monotonic()
            with client:
                timeout = struct.pack("ll", int(CLIENT_TIMEOUT), int(CLIENT_TIMEOUT % 1 * 1e6))
                client.setblocking(True)
                client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeout)
                client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeout)
                try:
                    self.answer(client)
                except OSError as exc:
                    log.debug("scrape not answered: %s", exc)
                except Exception:  # a collector's bug: logged, the listener lives on
                    log.exception("metrics not rendered")

    def answer(self, client: socket.socket) -> None:
        request = client.recv(REQUEST_LIMIT)
        # A request comes in one segment but may come in more: read on to its end.
        while request and b"\r\n\r\n" not in request and len(request) < REQUEST_LIMIT:
            chunk = client.recv(REQUEST_LIMIT)
            if not chunk:
                return
            request += chunk
        method, _, rest = request.partition(b" ")
        path = rest.split(b" ", 1)[0].split(b"?", 1)[0]
        if not request:
            return
        if method != b"GET":
            client.sendall(NOT_ALLOWED)
        elif path not in (b"/metrics", b"/"):
            client.sendall(NOT_FOUND)
        else:
            client.sendall(self.snapshot.current())

    def stop(self) -> None:
        self.stopping = True
        with contextlib.suppress(OSError):
            self.socket.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept
        self.thread.join(5)
        self.socket.close()
