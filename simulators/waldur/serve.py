"""`waldur-site-agent simulator`: run the simulator until SIGTERM, announcing it on one line."""

from __future__ import annotations

import json
import signal
import sys
import threading
from types import FrameType

from waldur_site_agent_actors.simulators.waldur.simulator import WaldurSimulator


def serve(
    port: int, seed: str | None = None, state_file: str | None = None, broker: bool = False
) -> int:
    """`broker`: publish to the RabbitMQ named by `WALDUR_TEST_RABBITMQ_*` (see broker.py)."""
    stop = threading.Event()
    real_broker = None
    if broker:
        from waldur_site_agent_actors.simulators.waldur.broker import Broker

        real_broker = Broker.from_env()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with WaldurSimulator(seed=seed, state_file=state_file, broker=real_broker, port=port) as sim:
        summary = sim.summary()
        if real_broker is not None:
            summary["broker"] = {"mgmt_url": real_broker.mgmt_url, "ws_url": real_broker.ws_url}
        sys.stdout.write(json.dumps(summary) + "\n")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    return 0
