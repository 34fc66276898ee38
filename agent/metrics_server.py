"""The process answering scrapes of `/metrics`, beside the agent (agent/metrics_listener.py).

Run as `python -I -S metrics_server.py FD CONTENT_TYPE` with FD the listening socket the agent
bound: standard library only, so it starts in milliseconds and holds ~10 MB. It asks the agent
for a rendering (one byte on stdout) when a scrape comes and its copy is at least
SNAPSHOT_SECONDS old, reads it from stdin (`STATUS LENGTH\\n` then the body), and sends it to
every scrape until then. The agent going away closes stdin: this process ends with it.

- It runs at `nice` NICENESS where allowed: the agent's own work comes first.
- Connections stay open between scrapes, as Prometheus keeps its connection to a target, so a
  scrape costs one request and one answer rather than a TCP connection each time. A request
  saying `Connection: close` (or HTTP/1.0) gets its answer and the close.
- It spends at most CPU_SHARE of one core over time, however often it is asked: past that, it
  pauses between answers until its allowance has caught up (a scrape storm is answered slower,
  the agent's cores stay free). Below it, answers go without delay.
- A new connection that sends no whole request within CLIENT_TIMEOUT is closed, as is one idle
  for IDLE_TIMEOUT after an answer; with MAX_CLIENTS connections open, a new one closes the one
  idle longest.
- `GET /metrics` (or `/`) is answered 200, another path 404, another method 405 (and the
  close: a body the server does not read would be taken for the next request).
"""

from __future__ import annotations

import contextlib
import os
import selectors
import socket
import sys
import time
from collections.abc import Callable
from typing import BinaryIO

SNAPSHOT_SECONDS = 1.0
CPU_SHARE = 0.05
CPU_BURST = 0.05  # seconds of CPU it may spend at once after a quiet time
CLIENT_TIMEOUT = 2.0
IDLE_TIMEOUT = 300.0  # Prometheus' own idle timeout for its connections
MAX_CLIENTS = 32
REQUEST_LIMIT = 8192  # bytes of request line and headers read; a scrape sends ~200
NICENESS = 10


def head(status: str, content_type: str, length: int, close: bool) -> bytes:
    lines = [
        f"HTTP/1.1 {status}",
        f"Content-Type: {content_type}",
        f"Content-Length: {length}",
        *(["Connection: close"] if close else []),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def refusal(status: str, text: bytes) -> bytes:
    return head(status, "text/plain; charset=utf-8", len(text), close=True) + text


NOT_FOUND = refusal("404 Not Found", b"only /metrics here\n")
NOT_ALLOWED = refusal("405 Method Not Allowed", b"GET only\n")
TOO_LARGE = refusal("431 Request Header Fields Too Large", b"request too large\n")
STATUS_TEXT = {200: "200 OK", 500: "500 Internal Server Error"}


def wants_close(headers: bytes) -> bool:
    """A `Connection: close` among the request's headers."""
    for field in headers.lower().split(b"\r\n"):
        name, _, value = field.partition(b":")
        if name.strip() == b"connection" and b"close" in value:
            return True
    return False


class AgentGone(Exception):
    """stdin closed: the agent stopped (or died)."""


class Renderings:
    """The agent's latest rendering, asked for again once SNAPSHOT_SECONDS old, kept as the two
    whole answers a scrape gets (the connection kept open or closed after it)."""

    def __init__(self, ask: BinaryIO, answers: BinaryIO, content_type: str) -> None:
        self.ask, self.answers, self.content_type = ask, answers, content_type
        self.answers_by_close: dict[bool, bytes] = {}
        self.rendered = float("-inf")

    def answer(self, close: bool) -> bytes:
        if time.monotonic() - self.rendered >= SNAPSHOT_SECONDS:
            self.ask.write(b"?")
            self.ask.flush()
            line = self.answers.readline()
            if not line:
                raise AgentGone
            status, length = (int(part) for part in line.split())
            body = self.answers.read(length)
            self.answers_by_close = {
                ending: head(STATUS_TEXT[status], self.content_type, len(body), ending) + body
                for ending in (False, True)
            }
            self.rendered = time.monotonic()
        return self.answers_by_close[close]


class CpuBudget:
    """This process's CPU time kept to CPU_SHARE of the wall time that passed."""

    def __init__(
        self,
        cpu: Callable[[], float] = time.process_time,
        wall: Callable[[], float] = time.monotonic,
        pause: Callable[[float], None] = time.sleep,
    ) -> None:
        self.cpu, self.wall, self.pause = cpu, wall, pause
        self.spent, self.seen = cpu(), wall()
        self.allowance = CPU_BURST

    def settle(self) -> None:
        """Account for the CPU spent since the last call; pause while over the allowance."""
        spent, seen = self.cpu(), self.wall()
        earned = (seen - self.seen) * CPU_SHARE
        self.allowance = min(CPU_BURST, self.allowance + earned - (spent - self.spent))
        self.spent, self.seen = spent, seen
        if self.allowance < 0:
            self.pause(-self.allowance / CPU_SHARE)


class Client:
    """One connection: what it sent so far and until when it may stay open."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.received = b""
        self.deadline = time.monotonic() + CLIENT_TIMEOUT
        self.answered = float("-inf")

    def take_request(self) -> bytes | None:
        """The next whole request's head, or None while it is incomplete."""
        request, found, rest = self.received.partition(b"\r\n\r\n")
        if not found:
            return None
        self.received = rest
        return request

    def waiting(self) -> None:
        """Answered: idle now, or the next request under way."""
        now = time.monotonic()
        self.answered = now
        self.deadline = now + (CLIENT_TIMEOUT if self.received else IDLE_TIMEOUT)


class Server:
    def __init__(self, listening: socket.socket, renderings: Renderings, agent: BinaryIO) -> None:
        self.listening, self.renderings, self.agent = listening, renderings, agent
        self.selector = selectors.DefaultSelector()
        self.clients: dict[socket.socket, Client] = {}
        self.budget = CpuBudget()

    def serve(self) -> None:
        self.selector.register(self.listening, selectors.EVENT_READ)
        self.selector.register(self.agent, selectors.EVENT_READ)  # readable only when it closed
        try:
            while True:
                for key, _ in self.selector.select(self.timeout()):
                    if key.fileobj is self.agent:
                        return
                    if key.fileobj is self.listening:
                        self.accept()
                    elif key.fileobj in self.clients:  # not closed by an earlier event
                        self.read(key.data)
                now = time.monotonic()
                for client in [c for c in self.clients.values() if c.deadline <= now]:
                    self.close(client)
        finally:
            for client in list(self.clients.values()):
                self.close(client)
            self.selector.close()

    def timeout(self) -> float | None:
        if not self.clients:
            return None
        return max(0.0, min(c.deadline for c in self.clients.values()) - time.monotonic())

    def accept(self) -> None:
        try:
            conn, _ = self.listening.accept()
        except BlockingIOError:
            return  # the client gave up before we accepted
        if len(self.clients) >= MAX_CLIENTS:
            self.close(min(self.clients.values(), key=lambda c: c.answered))
        conn.setblocking(False)
        # An answer's last segment goes at once, not after the client's delayed ACK.
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.clients[conn] = client = Client(conn)
        self.selector.register(conn, selectors.EVENT_READ, client)

    def read(self, client: Client) -> None:
        try:
            chunk = client.conn.recv(REQUEST_LIMIT)
        except OSError:
            chunk = b""
        if not chunk:
            self.close(client)
            return
        if not client.received:
            client.deadline = time.monotonic() + CLIENT_TIMEOUT  # a request under way
        client.received += chunk
        while (request := client.take_request()) is not None:
            if not self.answer(client, request):
                self.close(client)
                return
        if len(client.received) > REQUEST_LIMIT:
            self.send(client, TOO_LARGE)
            self.close(client)

    def answer(self, client: Client, request: bytes) -> bool:
        """Answer one request; False when the connection is to close."""
        line, _, headers = request.partition(b"\r\n")
        method, _, rest = line.partition(b" ")
        target, _, version = rest.partition(b" ")
        path = target.split(b"?", 1)[0]
        if method != b"GET" or path not in (b"/metrics", b"/"):
            self.send(client, NOT_ALLOWED if method != b"GET" else NOT_FOUND)
            return False
        close = version != b"HTTP/1.1" or wants_close(headers)
        self.budget.settle()
        sent = self.send(client, self.renderings.answer(close))
        client.waiting()
        return sent and not close

    def send(self, client: Client, data: bytes) -> bool:
        """Sent whole within CLIENT_TIMEOUT (a slow reader holds the others that long)."""
        try:
            sent = client.conn.send(data)  # all of it, as a rule: the kernel's buffer has room
            if sent == len(data):
                return True
            client.conn.settimeout(CLIENT_TIMEOUT)
            client.conn.sendall(data[sent:])
            client.conn.setblocking(False)
        except OSError:
            return False
        return True

    def close(self, client: Client) -> None:
        del self.clients[client.conn]
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(client.conn)
        # Closed with unread bytes, a socket resets the connection, and the client may lose
        # the refusal it was sent: what already came is read and dropped first.
        with contextlib.suppress(OSError):
            client.conn.shutdown(socket.SHUT_WR)
            for _ in range(8):
                if not client.conn.recv(REQUEST_LIMIT):
                    break
        client.conn.close()


def main() -> None:
    # Scrapes take the CPU the agent leaves: on a busy head node, orders go first and a
    # scrape waits a few milliseconds more. Where setpriority is refused (a system call
    # filter denying `@resources` without the packaged unit's exception), the server keeps
    # the agent's niceness.
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    listening = socket.socket(fileno=int(sys.argv[1]))
    listening.setblocking(False)
    renderings = Renderings(sys.stdout.buffer, sys.stdin.buffer, sys.argv[2])
    with contextlib.suppress(AgentGone, BrokenPipeError, KeyboardInterrupt):
        Server(listening, renderings, sys.stdin.buffer).serve()


if __name__ == "__main__":
    main()
