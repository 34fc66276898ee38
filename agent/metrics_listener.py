"""The `/metrics` listener: the agent binds the port; a process of its own answers the scrapes.

The actors share one interpreter, and anything serving scrapes in it takes the interpreter
from them: http.server's handler ~0.45 ms of the agent's CPU per scrape, a one-thread handler
sending pre-rendered bytes ~0.1 ms, and more in a busy agent, where each of its blocking calls
hands the interpreter over and back (with 1,000 scrapes in a 3.5 s, 500-order run, orders were
14% slower: bench/metrics_load.py). So scrapes are answered by agent/metrics_server.py, a
small process started with the listening socket, and all the agent does is render the metrics
when that process asks (at most once per second: `generate_latest`, ~10 ms), in this module's
thread, which waits for the question without holding the interpreter. However often Prometheus
or anyone scrapes, the agent's cost is bounded by one rendering a second.

The port is bound here, in the agent, so a taken port is an error at start; the process is
started again if it ends while the agent runs, and ends when the agent does (its stdin closes).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

log = logging.getLogger("agent.metrics")

SERVER = Path(__file__).with_name("metrics_server.py")
RESTART_DELAY = 1.0


def rendering(registry: Any) -> bytes:
    """The metrics of `registry` as the server reads them: `200 LENGTH\\n` and the body."""
    from prometheus_client import generate_latest

    body = generate_latest(registry)
    return b"200 %d\n" % len(body) + body


class Listener:
    """Serves the metrics of `registry` on (address, port) until `stop`."""

    def __init__(self, address: str, port: int, registry: Any) -> None:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        self.socket = socket.create_server((address, port), family=family, backlog=64)
        self.registry = registry
        self.stopping = False
        self.lock = threading.Lock()  # `stop` against a restart of the server
        self.server = self.start_server()
        self.thread = threading.Thread(target=self.run, name="metrics-listener", daemon=True)
        self.thread.start()

    def start_server(self) -> subprocess.Popen[bytes]:
        from prometheus_client import CONTENT_TYPE_LATEST

        fd = self.socket.fileno()
        return subprocess.Popen(
            [sys.executable, "-I", "-S", str(SERVER), str(fd), CONTENT_TYPE_LATEST],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            pass_fds=(fd,),
        )

    def run(self) -> None:
        while True:
            server = self.server
            assert server.stdin is not None and server.stdout is not None
            self.answer(server.stdout, server.stdin)
            code = server.wait()
            if self.stopping:
                return
            log.warning("the metrics server ended (exit %s): started again", code)
            time.sleep(RESTART_DELAY)
            with self.lock:
                if self.stopping:
                    return
                self.server = self.start_server()

    def answer(self, questions: IO[bytes], answers: IO[bytes]) -> None:
        """Render whenever the server asks, until it ends."""
        while questions.read(1):
            try:
                text = rendering(self.registry)
            except Exception:  # a collector's bug: logged, an empty answer, the agent lives on
                log.exception("metrics not rendered")
                text = b"500 0\n"
            try:
                answers.write(text)
                answers.flush()
            except OSError:
                return

    def stop(self) -> None:
        with self.lock:
            self.stopping = True
            server = self.server
        server.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(5)
        self.thread.join(5)
        self.socket.close()
