"""`waldur-site-agent simulator`: run the simulator until SIGTERM, announcing it on one line."""

from __future__ import annotations

import json
import signal
import sys
import threading
from types import FrameType

from simulators.waldur.simulator import WaldurSimulator


def serve(port: int, seed: str | None = None, state_file: str | None = None) -> int:
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with WaldurSimulator(seed=seed, state_file=state_file, port=port) as sim:
        sys.stdout.write(json.dumps(sim.summary()) + "\n")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    return 0
