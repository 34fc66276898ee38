"""Every metric of docs/monitoring.md, scraped from a running agent and checked against what the
run did, as the Waldur simulator shows it."""

from __future__ import annotations

import subprocess
import sys
import time

from tests.metrics.scenario import (
    CREATES,
    DONE_ENDPOINT,
    ERRED,
    FAULTS,
    MAX_RESTARTS,
    RETRY_AFTER,
    metrics_run,
    scrape,
    series,
    value,
)
from waldur_site_agent_actors.agent.metrics_server import SNAPSHOT_SECONDS

P = "waldur_site_agent_"


def test_every_metric_matches_the_run(tmp_path):
    textfiles = tmp_path / "textfiles"
    textfiles.mkdir()
    with metrics_run(tmp_path, textfile_directory=str(textfiles)) as run:
        # Usage is reported every 1.2 s meanwhile: what the simulator saw before and after the
        # scrape bounds what the agent counted. A scrape shows the values of up to
        # SNAPSHOT_SECONDS before it: the lower bound is read earlier than that.
        set_usage = "POST /api/marketplace-component-usages/set_usage/"
        before = run.statuses(set_usage)
        time.sleep(SNAPSHOT_SECONDS + 0.1)
        s = scrape(run.url)
        after = run.statuses(set_usage)
        now = time.time()

        # orders: what the simulator holds, outcome by outcome
        assert value(s, P + "orders_total", offering="good", type="Create", outcome="done") == (
            run.orders("good", "done", "Create")
        )
        assert run.orders("good", "done", "Create") == CREATES
        assert value(s, P + "orders_total", offering="erring", outcome="erred") == ERRED
        assert run.orders("erring", "erred") == ERRED
        # set_state_done answered 503 twice: those orders were not left, the call was retried
        assert value(s, P + "orders_total", outcome="retried") == 0

        # Waldur: every injected 503 is a 5xx answer and a retry; it answers now
        assert run.statuses(DONE_ENDPOINT).count(503) == FAULTS
        assert value(s, P + "waldur_requests_total", method="POST", status_class="5xx") == FAULTS
        assert value(s, P + "waldur_retries_total", offering="good", method="POST") == FAULTS
        waited = value(s, P + "waldur_retry_wait_seconds_total", offering="good")
        assert waited == FAULTS * RETRY_AFTER, waited
        assert value(s, P + "waldur_requests_total", offering="good", status_class="2xx") > 0
        assert value(s, P + "waldur_request_duration_seconds_count", offering="good") >= (
            value(s, P + "waldur_requests_total", offering="good")
        )
        assert value(s, P + "waldur_reachable", offering="good") == 1

        # backend: one create per done order, each failed create counted as a failure
        create = {"plugin": "demo", "operation": "create_resource_with_id"}
        assert (
            value(s, P + "backend_operation_duration_seconds_count", offering="good", **create)
            == CREATES
        )
        assert (
            value(s, P + "backend_operation_failures_total", offering="erring", **create) == ERRED
        )
        assert value(s, P + "backend_operation_timeouts_total") == 0
        assert value(s, P + "backend_operation_duration_seconds_count", offering="good") > CREATES

        # cycles: every periodic mode of the good offering swept, and recently
        for mode in ("order_process", "report", "membership_sync"):
            assert value(s, P + "cycles_total", offering="good", mode=mode, outcome="ok") > 0
            last = value(
                s, P + "last_successful_cycle_timestamp_seconds", offering="good", mode=mode
            )
            assert run.started_at < last <= now
            assert value(s, P + "cycle_duration_seconds_count", offering="good", mode=mode) > 0
        assert value(s, P + "cycle_period_seconds", offering="good", mode="report") == 1.2
        # no events in this run: no sweep is a reconciliation
        assert value(s, P + "reconciliation_sweeps_total") == 0

        # usage: one set_usage Waldur took per resource reported; the erring offering's
        # resources are Erred, and Waldur refuses their usage every time
        reported = value(s, P + "usage_resources_reported_total", offering="good")
        assert before.count(201) <= reported <= after.count(201)
        assert reported >= CREATES
        assert value(s, P + "usage_components_sent_total", offering="good") >= reported
        refused = value(s, P + "usage_refusals_total", offering="erring", reason="waldur")
        assert 0 < before.count(400) <= refused <= after.count(400)
        assert value(s, P + "usage_refusals_total", offering="good") == 0
        age = value(s, P + "usage_oldest_unreported_age_seconds", offering="good")
        assert 0 <= age < now - run.started_at

        # supervision: the broken offering given up after its restarts, the others running
        assert value(s, P + "offering_state", offering="broken", state="failed") == 1
        assert value(s, P + "offering_state", offering="good", state="running") == 1
        assert value(s, P + "offering_state", offering="erring", state="running") == 1
        assert value(s, P + "offering_restarts_total", offering="broken") == MAX_RESTARTS + 1
        assert value(s, P + "offering_restarts_total", offering="good") == 0

        # process and build
        assert run.started_at - 1 < value(s, "process_start_time_seconds") <= now
        release = subprocess.run(
            [sys.executable, "-m", "waldur_site_agent_actors.agent.cli", "version"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        [build] = series(s, P + "build_info")
        assert build["version"] in release
        plugins = {(p["plugin"], p["distribution"]) for p in series(s, P + "plugin_info")}
        assert plugins == {
            ("demo", "waldur-site-agent-actors"),
            ("base", "waldur-site-agent-actors"),
        }

        # labels: offering names and fixed sets, never a resource, a user or a token
        text = run_text(run.url)
        for secret in (run.sim.provider_token, *run.created, "aandersen", "bberg"):
            assert secret not in text

        # the textfile holds the same families
        written = (textfiles / "waldur_site_agent.prom").read_text()
        assert P + "orders_total" in written


def run_text(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as answer:
        return str(answer.read().decode())
