"""The /metrics listener on its own: what its server process answers, the rendering it reuses,
a silent client, a server that dies, the agent going away."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter

from tests.e2e.harness import wait_for
from waldur_site_agent_actors.agent.metrics_listener import Listener
from waldur_site_agent_actors.agent.metrics_server import SNAPSHOT_SECONDS


@pytest.fixture
def served():
    registry = CollectorRegistry()
    counter = Counter("scraped_things", "Things", registry=registry)
    listener = Listener("127.0.0.1", 0, registry)
    port = listener.socket.getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", counter, listener
    finally:
        listener.stop()


def get(url: str, method: str = "GET") -> tuple[int, str, str]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.headers["Content-Type"], answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def test_metrics_are_served_in_the_exposition_format(served):
    url, counter, _ = served
    counter.inc(3)
    status, content_type, text = get(url + "/metrics")
    assert status == 200
    assert content_type.startswith("text/plain; version=")
    assert "scraped_things_total 3.0" in text
    assert get(url + "/")[0] == 200  # as prometheus_client's own server answers
    assert get(url + "/metrics?name[]=x")[0] == 200


def test_other_paths_and_methods_are_refused(served):
    url, _, _ = served
    assert get(url + "/secrets")[0] == 404
    assert get(url + "/metrics", method="POST")[0] == 405


def test_a_scrape_within_a_second_of_the_last_rendering_gets_it_again(served):
    url, counter, _ = served
    counter.inc()
    began = time.monotonic()
    first = get(url + "/metrics")[2]
    counter.inc()
    second = get(url + "/metrics")[2]
    if time.monotonic() - began < SNAPSHOT_SECONDS:  # else the machine was too slow to tell
        assert second == first
    time.sleep(SNAPSHOT_SECONDS)
    assert "scraped_things_total 2.0" in get(url + "/metrics")[2]


def test_a_client_that_sends_nothing_is_dropped_and_the_next_served(served):
    url, _, _ = served
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as silent:
        assert get(url + "/metrics")[0] == 200  # once the server dropped the silent client
        silent.settimeout(30)
        assert silent.recv(100) == b""  # closed by the server, unanswered


def test_a_server_that_dies_is_started_again(served):
    url, _, listener = served
    assert get(url + "/metrics")[0] == 200
    first = listener.server
    first.kill()
    wait_for(lambda: listener.server is not first, what="a new server")
    assert get(url + "/metrics")[0] == 200


def test_the_server_ends_with_the_agent(tmp_path):
    """The agent killed (no `stop`): its server sees stdin close and ends, freeing the port."""
    script = (
        "import sys, time\n"
        "from prometheus_client import CollectorRegistry\n"
        "from waldur_site_agent_actors.agent.metrics_listener import Listener\n"
        "listener = Listener('127.0.0.1', 0, CollectorRegistry())\n"
        "print(listener.socket.getsockname()[1], listener.server.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    agent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    port, server = (int(part) for part in agent.stdout.readline().split())
    assert get(f"http://127.0.0.1:{port}/metrics")[0] == 200
    agent.kill()
    agent.wait()
    wait_for(lambda: not Path(f"/proc/{server}").exists(), what="the server to end")
    with socket.create_server(("127.0.0.1", port)):
        pass


def test_stop_ends_the_server_and_frees_the_port():
    listener = Listener("127.0.0.1", 0, CollectorRegistry())
    port = listener.socket.getsockname()[1]
    server = listener.server
    listener.stop()
    assert server.poll() is not None
    with socket.create_server(("127.0.0.1", port)):
        pass
