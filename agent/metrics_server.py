"""The process answering scrapes of `/metrics`, beside the agent (agent/metrics_listener.py).

Run as `python -I metrics_server.py FD` with FD the listening socket the agent bound: standard
library only, so it starts in milliseconds and holds ~10 MB. It asks the agent for a rendering
(one byte on stdout) when a scrape comes and its copy is at least SNAPSHOT_SECONDS old, reads
it from stdin (`LENGTH\\n` then the whole HTTP answer), and sends it to every scrape until then.
The agent going away closes stdin: this process ends with it.

- It runs at `nice` NICENESS where allowed: the agent's own work comes first.
- One scrape at a time, at most one per MIN_INTERVAL; a client that sends no request within
  CLIENT_TIMEOUT is dropped (and holds the scrapes behind it that long).
- `GET /metrics` (or `/`) is answered 200, another path 404, another method 405; every answer
  closes the connection (HTTP/1.1 `Connection: close`, which Prometheus handles).
"""

from __future__ import annotations

import contextlib
import os
import selectors
import socket
import sys
import time
from typing import BinaryIO

SNAPSHOT_SECONDS = 1.0
MIN_INTERVAL = 0.002  # at most 500 scrapes a second
CLIENT_TIMEOUT = 2.0
REQUEST_LIMIT = 8192  # bytes of request line and headers read; a scrape sends ~200
NICENESS = 10


def response(status: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


NOT_FOUND = response("404 Not Found", b"only /metrics here\n")
NOT_ALLOWED = response("405 Method Not Allowed", b"GET only\n")


class AgentGone(Exception):
    """stdin closed: the agent stopped (or died)."""


class Renderings:
    """The agent's latest rendering, asked for again once SNAPSHOT_SECONDS old."""

    def __init__(self, ask: BinaryIO, answers: BinaryIO) -> None:
        self.ask, self.answers = ask, answers
        self.answer = b""
        self.rendered = float("-inf")

    def current(self) -> bytes:
        if time.monotonic() - self.rendered >= SNAPSHOT_SECONDS:
            self.ask.write(b"?")
            self.ask.flush()
            length = self.answers.readline()
            if not length:
                raise AgentGone
            self.answer = self.answers.read(int(length))
            self.rendered = time.monotonic()
        return self.answer


def answer(client: socket.socket, renderings: Renderings) -> None:
    request = b""
    while b"\r\n\r\n" not in request and len(request) < REQUEST_LIMIT:
        chunk = client.recv(REQUEST_LIMIT)
        if not chunk:
            return
        request += chunk
    method, _, rest = request.partition(b" ")
    path = rest.split(b" ", 1)[0].split(b"?", 1)[0]
    if method != b"GET":
        client.sendall(NOT_ALLOWED)
    elif path not in (b"/metrics", b"/"):
        client.sendall(NOT_FOUND)
    else:
        client.sendall(renderings.current())


def serve(listening: socket.socket, renderings: Renderings, agent: BinaryIO) -> None:
    with selectors.DefaultSelector() as selector:
        selector.register(listening, selectors.EVENT_READ)
        selector.register(agent, selectors.EVENT_READ)  # readable only when it closed
        last = float("-inf")
        while True:
            ready = {key.fileobj for key, _ in selector.select()}
            if agent in ready:
                return
            time.sleep(max(0.0, last + MIN_INTERVAL - time.monotonic()))
            try:
                client, _ = listening.accept()
            except BlockingIOError:
                continue  # the client gave up before we accepted
            last = time.monotonic()
            with client:
                client.settimeout(CLIENT_TIMEOUT)
                # the client went away or was too slow: its scrape is lost
                with contextlib.suppress(OSError):
                    answer(client, renderings)


def main() -> None:
    # Scrapes take the CPU the agent leaves: on a busy head node, orders go first and a
    # scrape waits a few milliseconds more. The packaged unit's system call filter refuses
    # setpriority (`~@resources`): there the server keeps the agent's niceness.
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    listening = socket.socket(fileno=int(sys.argv[1]))
    listening.setblocking(False)
    with contextlib.suppress(AgentGone, BrokenPipeError, KeyboardInterrupt):
        serve(listening, Renderings(sys.stdout.buffer, sys.stdin.buffer), sys.stdin.buffer)


if __name__ == "__main__":
    main()
