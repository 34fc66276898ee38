"""Orders under chaos: Waldur failing 20% of the agent's requests, the backend failing 10% of its
commands, RabbitMQ restarted and the agent SIGKILLed while orders flow; at the end nothing is
lost, nothing done twice, no account leaked or missing, and usage totals agree.

The CI size (120 orders, 1 broker restart, 1 kill) runs with the suite; the full size (1,000
orders, 3 restarts, 2 kills) with `CHAOS_FULL=1 .venv/bin/pytest tests/chaos`. See docs/chaos.md.
"""

from __future__ import annotations

import os

import pytest

from tests.chaos.run import ChaosRun, Size
from tests.chaos.workload import scenario
from waldur_site_agent_actors.simulators.waldur import WaldurSimulator

pytestmark = pytest.mark.rabbitmq

SEED = 20240610  # Waldur's faults, the backend's and the workload's choices
OFFERINGS = 3
FULL = os.environ.get("CHAOS_FULL", "").strip().lower() not in ("", "0", "false", "no")
SIZE = Size(orders=1000, broker_restarts=3, agent_kills=2) if FULL else Size(120, 1, 1)


def test_no_order_lost_or_done_twice_under_chaos(tmp_path, rabbitmq, chaos_report):
    with WaldurSimulator(seed=scenario(OFFERINGS), broker=rabbitmq.broker, tick_interval=0) as sim:
        run = ChaosRun(sim, rabbitmq, tmp_path, SEED)
        try:
            run.start()
            run.drive(SIZE)
            run.settle(timeout=120 + SIZE.orders * 0.5)
        finally:
            run.stop()
            rabbitmq.forget(sim)
        findings = run.findings()
        figures = run.figures(findings)
    chaos_report(f"{SIZE.orders} orders", figures)

    # The chaos happened...
    assert figures["broker restarts"] == SIZE.broker_restarts
    assert figures["agent kills"] == SIZE.agent_kills
    assert set(figures["Waldur faults injected"]) == {"5xx", "429", "timeout", "reset"}
    assert set(figures["backend failures injected"]) == {"failed", "done, timed out"}
    # ... and changed nothing it should not have.
    assert {name: items for name, items in findings.items() if items} == {}
    assert figures["reload after the chaos (s)"] is not None
    assert figures["agent exit code"] == 0
