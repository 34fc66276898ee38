"""Log shipping (`log_shipping.*`): the agent's own log lines, in batches, to Waldur's
`marketplace-site-agent-logs/`, under the agent identity of the offering they concern.

Logging never waits for the network: a handler puts each record, masked as every log line is,
into a buffer bounded in bytes (the oldest lines go when it is full), and the LogShipper actor
empties it every `ship_interval_seconds` from its own thread. A line of an offering goes to that
offering's identity, a line of the agent as a whole to every identity; lines of an offering not
registered yet wait in the buffer. As upstream: batches of 100, a batch Waldur failed on tried
3 more times 5, 10 and 20 s apart and then dropped, and a Waldur without the endpoint (404)
drops them silently. The shipper's own troubles are logged locally only: shipping them would
feed the loop it reports on.
"""

from __future__ import annotations

import collections
import logging
import threading
from dataclasses import dataclass
from typing import Any

import msgspec
import pykka

from waldur_site_agent_actors.actors import messages as m
from waldur_site_agent_actors.actors.timer import Timer
from waldur_site_agent_actors.actors.waldur.agents import Agents
from waldur_site_agent_actors.actors.waldur.client import WaldurError, WaldurUnreachable
from waldur_site_agent_actors.actors.waldur_actor import client_for
from waldur_site_agent_actors.config.model import Offering

log = logging.getLogger("actors.log_shipping")

BATCH = 100
RETRIES = 3
RETRY_DELAY = 5.0
TIMEOUT = (5.0, 30.0)
AGENT_WIDE = "-"
NOT_SHIPPED = ("actors.log_shipping", "urllib3")


class Entry(msgspec.Struct, frozen=True, kw_only=True):
    timestamp: float
    level: str
    message: str
    module: str
    offering: str

    @property
    def size(self) -> int:
        return len(self.message.encode()) + len(self.module)


class LogBuffer:
    """Thread-safe, bounded in bytes; full, it drops its oldest lines."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.dropped = 0
        self._entries: collections.deque[Entry] = collections.deque()
        self._size = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, entry: Entry) -> None:
        with self._lock:
            self._entries.append(entry)
            self._size += entry.size
            self._trim()

    def take(self) -> list[Entry]:
        with self._lock:
            entries = list(self._entries)
            self._entries.clear()
            self._size = 0
            return entries

    def give_back(self, entries: list[Entry]) -> None:
        """Lines that could not go yet, back before anything logged since."""
        with self._lock:
            self._entries.extendleft(reversed(entries))
            self._size += sum(e.size for e in entries)
            self._trim()

    def _trim(self) -> None:
        while self._size > self.max_bytes and self._entries:
            self._size -= self._entries.popleft().size
            self.dropped += 1


class BufferingHandler(logging.Handler):
    """Puts records into the buffer; what it does in the logging thread is append to a deque."""

    def __init__(self, buffer: LogBuffer, level: str) -> None:
        super().__init__(level)
        self.buffer = buffer
        self.setFormatter(logging.Formatter("%(message)s"))

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.name.startswith(NOT_SHIPPED) and bool(super().filter(record))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.buffer.add(
                Entry(
                    timestamp=record.created,
                    level=record.levelname,
                    message=self.format(record),
                    module=record.name,
                    offering=str(getattr(record, "offering", AGENT_WIDE)),
                )
            )
        except Exception:
            self.handleError(record)


class IdentityRegistered(m.Message, frozen=True):
    """An offering's agent identity is known: its lines can be shipped under it."""

    offering: Offering
    identity_uuid: str


class ShipDue(m.Message, frozen=True):
    """Time to empty the buffer."""


@dataclass
class Target:
    identity_uuid: str
    agents: Agents


class LogShipper(pykka.ThreadingActor):
    def __init__(
        self,
        buffer: LogBuffer,
        every: float,
        timer: Timer,
        proxy: str = "",
        user_agent: str = "",
        stopping: threading.Event | None = None,
    ) -> None:
        super().__init__()
        self.buffer, self.every, self.timer = buffer, every, timer
        self.proxy, self.user_agent = proxy, user_agent
        self.stopping = stopping or threading.Event()
        self.targets: dict[str, Target] = {}
        self.schedule: int | None = None

    def on_start(self) -> None:
        self._ship_later()

    def on_stop(self) -> None:
        if self.schedule is not None:
            self.timer.cancel(self.schedule)
        self.ship()  # what is left; while stopping, each batch is tried once
        for target in self.targets.values():
            target.agents.client.close()

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, IdentityRegistered):
            self._add_target(message)
        elif isinstance(message, ShipDue):
            try:
                self.ship()
            finally:
                self._ship_later()
        else:
            return super().on_receive(message)
        return None

    def _ship_later(self) -> None:
        # Fixed delay: a slow Waldur never queues a second shipment behind the first.
        self.schedule = self.timer.once(self.actor_ref, ShipDue(), self.every)

    def _add_target(self, message: IdentityRegistered) -> None:
        client = client_for(message.offering, self.proxy, self.user_agent, self.stopping)
        client.timeout = TIMEOUT
        old = self.targets.get(message.offering.name)
        if old is not None:
            old.agents.client.close()
        self.targets[message.offering.name] = Target(message.identity_uuid, Agents(client))

    def ship(self) -> None:
        waiting: list[Entry] = []
        batches: dict[str, list[Entry]] = {name: [] for name in self.targets}
        for entry in self.buffer.take():
            if entry.offering in batches:
                batches[entry.offering].append(entry)
            elif entry.offering == AGENT_WIDE and batches:
                for lines in batches.values():
                    lines.append(entry)
            else:
                waiting.append(entry)
        self.buffer.give_back(waiting)
        for name, lines in batches.items():
            for start in range(0, len(lines), BATCH):
                self._send(self.targets[name], lines[start : start + BATCH])

    def _send(self, target: Target, lines: list[Entry]) -> None:
        body = [
            {
                "agent_identity_uuid": target.identity_uuid,
                "timestamp": line.timestamp,
                "level": line.level,
                "message": line.message,
                "module": line.module,
            }
            for line in lines
        ]
        problem = ""
        for attempt in range(RETRIES + 1):
            try:
                target.agents.ship_logs(body)
                return
            except WaldurError as exc:
                if exc.status == 404:
                    return  # this Waldur does not take agent logs
                problem = f"HTTP {exc.status}"
                if not exc.transient:
                    break
            except WaldurUnreachable as exc:
                problem = str(exc)
            if attempt == RETRIES or self.stopping.wait(RETRY_DELAY * 2**attempt):
                break
        log.warning("%d log line(s) not shipped to Waldur: %s", len(lines), problem)
