"""The event-stream metrics of a running agent over the real RabbitMQ, checked against what the
run did: every message published reached the agent and was acknowledged; a connection the broker
closed is counted as down, then as a reconnect; the sweeps it triggers count what they fixed:
an order, a team change and an Erred resource whose events were lost."""

from __future__ import annotations

import pytest

from tests.e2e.harness import Agent, DemoDb, offering_config, terminal, wait_for
from tests.metrics.scenario import Samples, free_port, scrape, value
from waldur_site_agent_actors.simulators.waldur import WaldurSimulator
from waldur_site_agent_actors.simulators.waldur.client import ConsumerClient

pytestmark = pytest.mark.rabbitmq

P = "waldur_site_agent_"
STREAM = {"offering": "hpc", "stream": "waldur"}
ORDERS = 2  # one resource in each project


def test_event_stream_metrics_match_the_run(tmp_path, rabbitmq):
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    with WaldurSimulator(broker=rabbitmq.broker, tick_interval=0) as sim:
        summary = sim.summary()
        offering, projects = summary["offerings"][0], summary["projects"]
        state = tmp_path / "state"
        db = DemoDb(state / "demo-hpc.sqlite")
        # Sweeps once an hour: a sweep in this run is the start's or a reconnect's.
        agent = Agent(
            tmp_path,
            [{**offering_config(sim, offering, state), **rabbitmq.offering_stomp}],
            order_process_period_minutes=60,
            reconciliation_period_minutes=60,
            metrics={"enabled": True, "listen_port": port},
        ).start("-m", "event_process")
        consumer = ConsumerClient(sim.api_url, sim.staff_token)

        def samples() -> Samples:
            """The metrics now; none while the agent is still starting its listener."""
            try:
                return scrape(url)
            except OSError:
                return {}

        def published() -> int:
            return sum(1 for message in sim.outbox if message["published"])

        def cycles(mode: str) -> float:
            return value(samples(), P + "cycles_total", mode=mode)

        try:
            wait_for(
                lambda: value(samples(), P + "event_stream_connected", **STREAM) == 1,
                what="the stream connected",
                log=agent.log,
            )
            # The start's sweeps ran: what follows is done by events until the outage.
            wait_for(lambda: cycles("order_process") and cycles("membership_sync"), log=agent.log)

            placed = [
                consumer.order(offering["url"], projects[i % 2]["url"], {"cpu": 1, "mem": 1})
                for i in range(ORDERS)
            ]
            finals = [
                wait_for(lambda o=o: terminal(consumer, o["uuid"]), what="orders", log=agent.log)
                for o in placed
            ]
            assert [f["state"] for f in finals] == ["done"] * ORDERS, finals
            # the second project's resource: carol and dave
            account = consumer.resource(finals[1]["marketplace_resource_uuid"])["backend_id"]
            wait_for(lambda: db.members(account) == {"cclark", "ddahl"}, log=agent.log)

            # Every message the simulator published (orders, resources, their changes) was
            # received and acknowledged; none is left unacknowledged to come again later.
            def settled() -> dict[str, float] | None:
                s = samples()
                counts = {
                    "received": value(s, P + "event_messages_received_total", **STREAM),
                    "acknowledged": value(s, P + "event_messages_acknowledged_total", **STREAM),
                }
                return counts if set(counts.values()) == {published()} else None

            counts = wait_for(settled, what="every event received and acknowledged", log=agent.log)
            assert counts["received"] >= ORDERS
            before = samples()
            for mode in ("order_process", "membership_sync"):
                assert value(before, P + "reconciliation_fixes_total", mode=mode) == 0
            assert value(before, P + "event_stream_reconnects_total", **STREAM) == 0

            # The broker drops the agent's connection, and Waldur can publish nothing nor
            # register a queue: the agent is disconnected until the broker is back.
            sim.broker_down = True
            vhost = sim.objects("agent_queues")[0]["vhost"]
            # (listed from the broker's statistics: a connection may take a moment to appear)
            wait_for(lambda: rabbitmq.broker.close_connections(vhost=vhost), log=agent.log)
            wait_for(
                lambda: value(samples(), P + "event_stream_connected", **STREAM) == 0,
                what="the stream seen down",
                log=agent.log,
            )
            # Changes whose events are lost: a limit update in the first project; in the second
            # (another resource: the membership sweep skips one being updated) dave leaving and
            # the resource marked Erred.
            update = consumer.update_limits(finals[0]["marketplace_resource_uuid"], {"cpu": 7})
            consumer.remove_user(projects[1]["uuid"], consumer.user_uuid("dave"))
            erred = finals[1]["marketplace_resource_uuid"]
            consumer._call(
                "POST",
                f"marketplace-provider-resources/{erred}/set_as_erred/",
                {"error_message": "marked by the test"},
            )
            assert consumer.resource(erred)["state"] == "Erred"
            # (the order's and the role's events lost; the simulator has none for set_as_erred)
            lost = sum(1 for message in sim.outbox if not message["published"])
            assert lost >= 2
            sim.broker_down = False

            # The reconnect's sweeps do what the lost events would have.
            wait_for(lambda: terminal(consumer, update), timeout=60, what="update", log=agent.log)
            wait_for(lambda: db.members(account) == {"cclark"}, what="dave out", log=agent.log)
            wait_for(
                lambda: consumer.resource(erred)["state"] == "OK", what="erred to OK", log=agent.log
            )
            counts = wait_for(settled, what="every event received and acknowledged", log=agent.log)
            after = samples()
            assert value(after, P + "event_stream_connected", **STREAM) == 1
            assert value(after, P + "event_stream_reconnects_total", **STREAM) == 1
            for mode in ("order_process", "membership_sync"):
                sweeps = value(after, P + "reconciliation_sweeps_total", mode=mode)
                assert sweeps == value(before, P + "reconciliation_sweeps_total", mode=mode) + 1
                assert sweeps == value(after, P + "cycles_total", mode=mode)
            # the update order finished by the sweep; the membership sweep unlinked dave and set
            # the Erred resource back to OK
            assert value(after, P + "reconciliation_fixes_total", mode="order_process") == 1
            assert value(after, P + "reconciliation_fixes_total", mode="membership_sync") == 2
        except BaseException:
            print(agent.log()[-5000:])
            shown = ("cycles_total", "reconciliation", "event_")
            for (name, labels), number in sorted(samples().items(), key=str):
                if any(part in name for part in shown):
                    print(name, dict(labels), number)
            raise
        finally:
            consumer.close()
            assert agent.stop() == 0
            rabbitmq.forget(sim)
