"""The systemd suite's shared pieces: the unit's journal shown with every failure."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.harness import terminal, wait_for

UNIT = "waldur-site-agent.service"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failing test shows the service's journal, read before any clean-up removes it."""
    outcome: Any = yield
    report = outcome.get_result()
    container = getattr(item, "funcargs", {}).get("container")
    if report.failed and report.when in ("setup", "call") and container is not None:
        report.sections.append(
            (f"journalctl -u {UNIT} (last 150 lines)", container.journal(UNIT, "-n", "150"))
        )
        status = container.run("systemctl", "status", "--no-pager", UNIT, check=False)
        report.sections.append((f"systemctl status {UNIT}", status.stdout + status.stderr))


def done(consumer: Any, order_uuid: str, timeout: float = 60.0) -> dict[str, Any]:
    """The order once terminal, asserted done; its error message says why when it is not."""
    order = wait_for(lambda: terminal(consumer, order_uuid), timeout=timeout, what="the order")
    assert order["state"] == "done", f"order {order['state']}: {order.get('error_message')}"
    return order
