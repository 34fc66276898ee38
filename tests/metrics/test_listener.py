"""The /metrics listener on its own: what its server process answers, the rendering it reuses,
kept-open connections, a silent client, a server that dies, the agent going away, the server's
CPU allowance."""

from __future__ import annotations

import http.client
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
from waldur_site_agent_actors.agent import metrics_server
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


def test_a_connection_stays_open_between_scrapes_as_prometheus_keeps_it(served):
    url, _, _ = served
    conn = http.client.HTTPConnection(url.removeprefix("http://"), timeout=10)
    sockets = []
    try:
        for _ in range(3):
            conn.request("GET", "/metrics")
            answer = conn.getresponse()
            assert answer.status == 200
            assert "scraped_things_total" in answer.read().decode()
            assert answer.getheader("Connection") is None
            sockets.append(conn.sock)
        assert sockets[0] is sockets[1] is sockets[2]  # http.client never had to reconnect
    finally:
        conn.close()


def raw_exchange(url: str, request: bytes) -> bytes:
    """What the server sends for `request` until it closes the connection."""
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(request)
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    return received


@pytest.mark.parametrize(
    "request_text",
    [
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nconnection:  Close\r\n\r\n",
        b"GET /metrics HTTP/1.0\r\n\r\n",
    ],
)
def test_a_request_asking_for_the_close_gets_one_answer_and_the_close(served, request_text):
    received = raw_exchange(served[0], request_text)
    assert received.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\nConnection: close\r\n" in received
    assert received.count(b"HTTP/1.1 ") == 1


def test_requests_sent_together_are_answered_in_turn(served):
    one = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
    last = b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n"
    received = raw_exchange(served[0], one + one + last)
    assert received.count(b"HTTP/1.1 200 OK") == 2
    assert received.endswith(b"only /metrics here\n")  # the 404 closes the connection


def test_an_endless_request_head_is_refused(served):
    received = raw_exchange(served[0], b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 20000)
    assert received.startswith(b"HTTP/1.1 431 ")


def test_more_connections_than_allowed_close_the_one_idle_longest(served):
    url, _, _ = served
    port = int(url.rsplit(":", 1)[1])
    scrape = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
    conns = []
    try:
        for _ in range(metrics_server.MAX_CLIENTS):
            conn = socket.create_connection(("127.0.0.1", port), timeout=10)
            conn.sendall(scrape)
            assert conn.recv(65536).startswith(b"HTTP/1.1 200")
            conns.append(conn)
        assert get(url + "/metrics")[0] == 200  # one more: the first, idle longest, goes
        assert conns[0].recv(100) == b""
        conns[1].sendall(scrape)
        assert conns[1].recv(65536).startswith(b"HTTP/1.1 200")
    finally:
        for conn in conns:
            conn.close()


def test_the_server_keeps_to_its_share_of_a_core():
    """The allowance: spent faster than CPU_SHARE of the time passing, the server pauses until
    it has caught up; within it, never."""
    clock = {"cpu": 0.0, "wall": 0.0}
    slept: list[float] = []
    budget = metrics_server.CpuBudget(lambda: clock["cpu"], lambda: clock["wall"], slept.append)
    share = metrics_server.CPU_SHARE
    clock["cpu"], clock["wall"] = 0.001, 1.0  # 1 ms of CPU in a second: well within
    budget.settle()
    assert slept == []
    clock["cpu"] += metrics_server.CPU_BURST + 0.010  # a storm: 10 ms beyond the allowance
    budget.settle()
    assert slept == [pytest.approx(0.010 / share)]
    clock["wall"] += slept[-1] + 0.001  # the pause (and a little more) earned it back
    budget.settle()
    assert len(slept) == 1


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
