"""A real Prometheus scrapes the agent through a run (orders, usage, a forced offering failure),
answers queries with the values the simulator shows, and fires the alerts the run deserves."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.e2e.harness import wait_for
from tests.metrics.scenario import CREATES, ERRED, metrics_run

pytestmark = pytest.mark.prometheus

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "packaging" / "monitoring" / "waldur-site-agent-alerts.yml"
P = "waldur_site_agent_"


def test_promtool_checks_the_shipped_rules(prometheus):
    result = subprocess.run(
        [prometheus.promtool, "check", "rules", str(RULES)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 5 rules found" in result.stdout


def test_promtool_unit_tests_of_every_alert(prometheus):
    result = subprocess.run(
        [prometheus.promtool, "test", "rules", "alerts_test.yml"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parent,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_scrapes_the_run_and_the_failed_offering_alerts(tmp_path, prometheus):
    # The shipped rules with their waits cut to nothing: the run lasts seconds, not minutes.
    prometheus.load_rules(tmp_path.name, re.sub(r"for: \w+", "for: 0s", RULES.read_text()))

    def scraped_from_the_start(port: int) -> None:
        prometheus.scrape(tmp_path.name, f"127.0.0.1:{port}")
        up = f'up{{instance="127.0.0.1:{port}"}} == 1'
        wait_for(lambda: prometheus.query(up), what="Prometheus scraping the agent")

    with metrics_run(tmp_path, on_start=scraped_from_the_start) as run:
        instance = f"127.0.0.1:{run.port}"
        mine = f'instance="{instance}"'

        def final(expr: str, expected: float) -> bool:
            return list(prometheus.query(expr).values()) == [expected]

        orders = f'{P}orders_total{{{mine}, offering="good", type="Create", outcome="done"}}'
        wait_for(lambda: final(orders, CREATES), what="orders in Prometheus", log=run.agent.log)
        assert run.orders("good", "done", "Create") == CREATES
        erred = f'sum({P}orders_total{{{mine}, offering="erring", outcome="erred"}})'
        wait_for(lambda: final(erred, ERRED), what="erred orders in Prometheus")
        assert run.orders("erring", "erred") == ERRED
        failed = f'{P}offering_state{{{mine}, state="failed"}} == 1'
        states = wait_for(lambda: prometheus.query(failed), what="the FAILED offering")
        assert [dict(labels)["offering"] for labels in states] == ["broken"]
        reported = f'{P}usage_resources_reported_total{{{mine}, offering="good"}} >= {CREATES}'
        wait_for(lambda: prometheus.query(reported), what="usage of every resource in Prometheus")

        def firing() -> set[tuple[str, str]]:
            return {
                (a["labels"]["alertname"], a["labels"].get("offering", ""))
                for a in prometheus.api("alerts")["alerts"]
                if a["state"] == "firing" and a["labels"].get("instance") == instance
            }

        alerts = wait_for(
            lambda: (
                {
                    ("WaldurSiteAgentOfferingFailed", "broken"),
                    ("WaldurSiteAgentErredOrdersRising", "erring"),
                }
                <= (f := firing())
                and f
            ),
            what="the alerts to fire",
        )
        # Waldur answers and the good offering cycles: those alerts stay quiet.
        assert ("WaldurSiteAgentWaldurUnreachable", "good") not in alerts
        assert not any(
            name == "WaldurSiteAgentOfferingFailed" and o != "broken" for name, o in alerts
        )
