"""Sentry and Elastic APM against a local HTTP endpoint that keeps what they send: errors arrive,
secrets do not; without the extra the key is refused by name; with the keys off nothing of
either is imported."""

import gzip
import json
import subprocess
import sys
import threading
import zlib
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import yaml

from tests.e2e.harness import Agent, offering_config, terminal, wait_for
from tests.loopback import LoopbackServer
from waldur_site_agent_actors.agent.cli import main as cli_main
from waldur_site_agent_actors.config import ConfigError, load_mapping

ROOT = Path(__file__).parents[1]
TOKEN = "0123456789abcdef0123456789abcdef01234567"


class Capture(LoopbackServer):
    """Answers every request `{}` and keeps (method, path, decompressed body)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str, str]] = []
        self.lock = threading.Lock()
        super().__init__(CaptureHandler)

    def bodies(self, path_part: str) -> str:
        with self.lock:
            return "\n".join(body for _, path, body in self.received if path_part in path)


class CaptureHandler(BaseHTTPRequestHandler):
    server: Capture

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        encoding = self.headers.get("Content-Encoding", "")
        if encoding == "gzip":
            raw = gzip.decompress(raw)
        elif encoding == "deflate":
            raw = zlib.decompress(raw)
        with self.server.lock:
            self.server.received.append((self.command, self.path, raw.decode(errors="replace")))
        self.send_response(202 if "/intake/" in self.path else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_POST = _answer


@pytest.fixture
def capture():
    server = Capture()
    yield server
    server.close()


def config_file(tmp_path: Path, **root: object) -> Path:
    path = tmp_path / "config.yaml"
    offering = {
        "name": "hpc",
        "waldur_api_url": "http://127.0.0.1:9/api/",
        "waldur_api_token": TOKEN,
        "waldur_offering_uuid": "a" * 32,
        "backend_type": "demo",
    }
    path.write_text(yaml.safe_dump({**root, "offerings": [offering]}))
    return path


def probe(path: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.telemetry_probe", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done


def test_sentry_gets_errors_masked(tmp_path, capture):
    dsn = f"{capture.url.replace('//', '//publickey@')}/42"
    probe(config_file(tmp_path, sentry_dsn=dsn))
    sent = capture.bodies("/api/42/envelope/")
    assert "Waldur refused token ***" in sent
    assert "order failed" in sent and "bad credentials ***" in sent  # the exception, too
    assert "secret-key=***" in sent  # an INFO line's breadcrumb, its query secret masked
    assert TOKEN not in sent and "minted-at-run-time" not in sent


def test_elastic_apm_gets_errors_masked(tmp_path, capture):
    probe(config_file(tmp_path, elastic_apm_server_url=capture.url))
    sent = capture.bodies("/intake/v2/events")
    errors = [json.loads(line)["error"] for line in sent.splitlines() if '"error"' in line[:12]]
    assert {e.get("log", {}).get("message") for e in errors} >= {"Waldur refused token ***"}
    failed = [e for e in errors if "exception" in e]
    assert failed and "bad credentials ***" in failed[0]["exception"]["message"]
    assert TOKEN not in sent


def test_a_running_agent_reports_a_failed_order_to_sentry(tmp_path, sim, consumer, world, capture):
    offering, projects = world
    dsn = f"{capture.url.replace('//', '//publickey@')}/7"
    config = offering_config(sim, offering, tmp_path / "state", fail_on=["create"])
    agent = Agent(tmp_path, [config], sentry_dsn=dsn).start()
    try:
        order = consumer.order(offering["url"], projects[0]["url"], {"cpu": 1, "mem": 1})
        wait_for(lambda: terminal(consumer, order["uuid"]), what="the order to fail", log=agent.log)
        wait_for(
            lambda: order["uuid"] in capture.bodies("/api/7/envelope/"),
            what="the failure in Sentry",
            log=agent.log,
        )
    finally:
        assert agent.stop() == 0
    sent = capture.bodies("/api/7/envelope/")
    assert "demo backend was told to fail on create" in sent
    assert sim.provider_token not in sent


@pytest.mark.parametrize(
    ("key", "module", "needs"),
    [
        ("sentry_dsn", "sentry_sdk", "sentry-sdk"),
        ("elastic_apm_server_url", "elasticapm", "elastic-apm"),
    ],
)
def test_without_the_extra_the_key_is_refused_by_name(
    tmp_path, monkeypatch, capsys, key, module, needs
):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == module else real(name, *a)
    )
    path = config_file(tmp_path, **{key: "https://key@errors.example.org/3"})
    assert cli_main(["validate", "-c", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{key}: needs {needs}, which is not installed" in err
    assert "key@errors.example.org" not in err  # the value is never echoed
    with pytest.raises(ConfigError) as refused:
        load_mapping({**yaml.safe_load(path.read_text()), key: "not a url"})
    assert refused.value.errors == [f"{key}: expected an http(s) URL"]


def test_with_the_keys_off_neither_is_imported(tmp_path):
    path = config_file(tmp_path, sentry_dsn="", elastic_apm_server_url=None)
    code = (
        "import sys\n"
        "from waldur_site_agent_actors.agent import process\n"
        "from waldur_site_agent_actors.config import load_file\n"
        f"process.prepare(load_file({str(path)!r}).config)\n"
        "print(sorted(m for m in sys.modules if m.startswith(('sentry_sdk', 'elasticapm'))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == "[]", done.stderr
