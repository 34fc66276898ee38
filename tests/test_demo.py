"""`waldur-site-agent demo` end to end: the simulator, the real service process and the demo
backend; every order finishes as intended, the agent stops cleanly, its log holds no token."""

import re
import signal
import subprocess
import sys
import time
import urllib.request

from waldur_site_agent_actors.simulators.waldur import WaldurSimulator


def test_demo_runs_the_scenario_and_exits_0(tmp_path):
    state = tmp_path / "state"
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "waldur_site_agent_actors.agent.cli",
            "demo",
            "--state-dir",
            str(state),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    took = time.monotonic() - started
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert re.search(r"^orders: 5 placed, all finished as intended: 4 done, 1 erred", out, re.M)
    assert "members synced: 4 linked to the new accounts, 1 added (carol), 1 removed (bob)" in out
    assert re.search(r"^usage reported: climate-sim: .*gpu [1-9]", out, re.M)
    assert "agent: SIGTERM -> exit 0" in out
    assert "\033[" not in out  # not a terminal: no colour codes
    assert took < 60

    config = state / "agent.toml"
    assert config.stat().st_mode & 0o777 == 0o600
    log = (state / "agent.log").read_text()
    assert "(Create) done" in log
    # The simulator's tokens derive from its scenario: the same ones the demo's simulator had.
    with WaldurSimulator() as sim:
        tokens = {sim.staff_token, sim.provider_token}
        tokens |= {sim.token(user) for user in ("alice", "bob", "carol", "dave")}
        assert sim.provider_token in config.read_text()  # the right tokens are looked for
    assert all(token and token not in log for token in tokens)


def test_demo_serve_prints_the_metrics_url_and_serves_them(tmp_path):
    demo = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "waldur_site_agent_actors.agent.cli",
            "demo",
            "--serve",
            "--state-dir",
            str(tmp_path / "state"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert demo.stdout is not None
        for line in demo.stdout:
            lines.append(line)
            if line.startswith("Ctrl-C"):
                break
        out = "".join(lines)
        found = re.search(r"^metrics: +(http://127\.0\.0\.1:\d+/metrics)", out, re.M)
        assert found, out
        assert f"curl -s {found[1]}" in out
        with urllib.request.urlopen(found[1], timeout=10) as answer:
            text = answer.read().decode()
        done = re.findall(
            r'^waldur_site_agent_orders_total\{offering="[^"]+",outcome="done",type="\w+"\} (\S+)',
            text,
            re.M,
        )
        # the scenario's 4 done orders (Create, Create, Update, Terminate)
        assert sum(float(v) for v in done) == 4, text
    finally:
        demo.send_signal(signal.SIGTERM)
        demo.communicate(timeout=60)
