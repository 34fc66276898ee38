"""How many simple GET requests per second the Waldur simulator serves (not a test).

    .venv/bin/python bench/simulator_rps.py [--threads 4] [--seconds 5]

The simulator runs in its own process (the `simulator` command); each client thread keeps one
HTTP/1.1 keep-alive connection (stdlib `http.client`: `requests` itself tops out near 400
requests/s here and would measure the client, not the server) and alternates between
`GET /api/users/me/?field=uuid` and `GET /api/marketplace-orders/?offering_uuid=...`, the two
calls the agent makes most often. With `--orders N` the staff user first places N orders, so the
order list renders N full `OrderDetails` bodies (up to a page of 10) instead of an empty page. The
goal is >= 1000 requests/s so the simulator is never the bottleneck of the agent's benchmarks.
"""

from __future__ import annotations

import argparse
import http.client
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(threads: int, seconds: float, orders: int = 0) -> float:
    """The simulator runs in its own process, as it does for the agent's benchmarks."""
    server = subprocess.Popen(
        [sys.executable, "-m", "waldur_site_agent_actors.agent.cli", "simulator", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        info = json.loads(server.stdout.readline())
        offering = info["offerings"][0]["uuid"]
        place_orders(info, orders)
        port = int(info["api_url"].rsplit(":", 1)[1].split("/")[0])
        paths = [
            "/api/users/me/?field=uuid",
            f"/api/marketplace-orders/?offering_uuid={offering}&state=pending-provider",
        ]
        headers = {"Authorization": f"Token {info['provider_token']}"}
        counts = [0] * threads
        errors = [0] * threads
        deadline = time.monotonic() + seconds

        def worker(index: int) -> None:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            n = 0
            while time.monotonic() < deadline:
                connection.request("GET", paths[n % 2], headers=headers)
                response = connection.getresponse()
                response.read()
                if response.status != 200:
                    errors[index] += 1
                n += 1
            counts[index] = n
            connection.close()

        workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
        started = time.monotonic()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        elapsed = time.monotonic() - started
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=10)
    total = sum(counts)
    rate = total / elapsed
    print(
        f"{total} requests in {elapsed:.1f} s with {threads} threads: {rate:.0f} requests/s "
        f"({sum(errors)} errors)"
    )
    return rate


def place_orders(info: dict, count: int) -> None:
    from waldur_site_agent_actors.simulators.waldur.client import ConsumerClient

    staff = ConsumerClient(info["api_url"], info["staff_token"])
    offering, project = info["offerings"][0], info["projects"][0]
    for n in range(count):
        staff.order(offering["url"], project["url"], {"cpu": 10, "mem": 10}, name=f"bench{n}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--orders", type=int, default=0)
    args = parser.parse_args()
    rate = run(args.threads, args.seconds, args.orders)
    return 0 if rate >= 1000 else 1


if __name__ == "__main__":
    sys.exit(main())
