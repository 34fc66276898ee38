"""The /metrics listener on its own: what it answers, the snapshot it reuses, a silent client."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request

import pytest
from prometheus_client import CollectorRegistry, Counter

from waldur_site_agent_actors.agent import metrics_listener
from waldur_site_agent_actors.agent.metrics_listener import Listener, Snapshot


@pytest.fixture
def served():
    registry = CollectorRegistry()
    counter = Counter("scraped_things", "Things", registry=registry)
    snapshot = Snapshot(registry)
    listener = Listener("127.0.0.1", 0, snapshot)
    port = listener.socket.getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", counter, snapshot
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


def test_a_scrape_within_the_snapshot_period_gets_the_same_rendering(served, monkeypatch):
    url, counter, snapshot = served
    monkeypatch.setattr(metrics_listener, "SNAPSHOT_SECONDS", 3600.0)
    counter.inc()
    assert "scraped_things_total 1.0" in get(url + "/metrics")[2]
    counter.inc()
    assert "scraped_things_total 1.0" in get(url + "/metrics")[2]
    snapshot.rendered = float("-inf")  # the period is over
    assert "scraped_things_total 2.0" in get(url + "/metrics")[2]


def test_a_client_that_sends_nothing_is_dropped_and_the_next_served(served, monkeypatch):
    url, _, _ = served
    monkeypatch.setattr(metrics_listener, "CLIENT_TIMEOUT", 0.2)
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as silent:
        assert get(url + "/metrics")[0] == 200
        silent.settimeout(10)
        assert silent.recv(100) == b""  # closed by the listener, unanswered


def test_stop_frees_the_port():
    listener = Listener("127.0.0.1", 0, Snapshot(CollectorRegistry()))
    port = listener.socket.getsockname()[1]
    listener.stop()
    with socket.create_server(("127.0.0.1", port)):
        pass
