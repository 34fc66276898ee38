"""Log shipping: masked lines in a bounded buffer, shipped by their offering's identity, and a
Waldur that is slow, failing or without the endpoint never holds up the code that logs."""

import io
import logging

import pytest

from tests.e2e.harness import wait_for
from waldur_site_agent_actors.actors import log_shipping
from waldur_site_agent_actors.actors.log_shipping import (
    Entry,
    IdentityRegistered,
    LogBuffer,
    LogShipper,
)
from waldur_site_agent_actors.actors.timer import Timer
from waldur_site_agent_actors.agent import logs
from waldur_site_agent_actors.config.model import LogShipping, Offering

SECRET = "s3cr3t-token-value"


@pytest.fixture
def shipping_logs():
    """Root logging as the service sets it up with shipping on; restored afterwards."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    logs.setup("INFO", {SECRET}, io.StringIO(), LogShipping(enabled=True, log_level="WARNING"))
    buffer = logs.shipping_buffer()
    assert buffer is not None
    buffer.take()
    yield buffer
    root.handlers[:], root.level = saved


def posted(sim):
    return [r for r in sim.requests() if r["endpoint"] == "POST /api/marketplace-site-agent-logs/"]


def line(offering: str, message: str) -> Entry:
    return Entry(timestamp=1.0, level="WARNING", message=message, module="t", offering=offering)


def test_lines_are_masked_leveled_and_tagged_before_they_are_buffered(shipping_logs):
    log = logging.getLogger("actors.order_process")
    log.info("not shipped: below the shipping level")
    log.warning("token %s refused", SECRET, extra={"offering": "hpc"})
    try:
        raise RuntimeError(f"failed with {SECRET}")
    except RuntimeError:
        log.exception("order failed")
    logging.getLogger("actors.log_shipping").warning("the shipper's own trouble")
    kept = shipping_logs.take()
    assert [(e.level, e.offering, e.module) for e in kept] == [
        ("WARNING", "hpc", "actors.order_process"),
        ("ERROR", "-", "actors.order_process"),
    ]
    assert kept[0].message == "token *** refused"
    assert "RuntimeError: failed with ***" in kept[1].message
    assert SECRET not in "".join(e.message for e in kept)


def test_a_full_buffer_drops_its_oldest_lines():
    buffer = LogBuffer(max_bytes=100)
    for n in range(10):
        buffer.add(line("hpc", f"{n:029d}"))  # 29 + 1 bytes each
    kept = buffer.take()
    assert [int(e.message) for e in kept] == [7, 8, 9]
    assert buffer.dropped == 7
    buffer.give_back(kept)
    buffer.add(line("hpc", "1" * 29))
    assert [e.message[-1] for e in buffer.take()] == ["8", "9", "1"]


@pytest.fixture
def registered(sim, world):
    offering = Offering(
        name="hpc",
        waldur_api_url=sim.api_url,
        waldur_offering_uuid=world[0]["uuid"],
        waldur_api_token=sim.provider_token,
        backend_type="demo",
    )
    from waldur_site_agent_actors.actors.waldur.agents import Agents
    from waldur_site_agent_actors.actors.waldur_actor import client_for

    identity = Agents(client_for(offering)).ensure_identity(offering.waldur_offering_uuid, "1", [])
    return offering, identity.uuid


@pytest.fixture
def shipper():
    timer = Timer()
    buffer = LogBuffer(1024 * 1024)
    ref = LogShipper.start(buffer, 3600.0, timer)
    yield ref, buffer
    ref.stop()
    timer.stop()


def test_lines_go_to_their_offerings_identity_and_wait_for_it(sim, registered, shipper):
    offering, identity = registered
    ref, buffer = shipper
    buffer.add(line("hpc", "before registration"))
    buffer.add(line("other", "an offering never registered"))
    ref.proxy().ship().get()
    assert sim.objects("agent_logs") == []
    ref.tell(IdentityRegistered(offering=offering, identity_uuid=identity))
    buffer.add(line("-", "agent-wide"))
    for n in range(150):
        buffer.add(line("hpc", f"line {n}"))
    ref.proxy().ship().get()
    rows = sim.objects("agent_logs", identity=identity)
    assert [r["message"] for r in rows[:2]] == ["before registration", "agent-wide"]
    assert len(rows) == 152
    # 100 lines at most per batch (the request log is written just after the answer)
    wait_for(lambda: len(posted(sim)) == 2, what="two batches", log=lambda: str(posted(sim)))
    assert [e.message for e in buffer.take()] == ["an offering never registered"]


def test_a_failing_waldur_is_retried_and_one_without_the_endpoint_dropped(
    sim, registered, shipper, monkeypatch
):
    monkeypatch.setattr(log_shipping, "RETRY_DELAY", 0.01)
    offering, identity = registered
    ref, buffer = shipper
    ref.tell(IdentityRegistered(offering=offering, identity_uuid=identity))
    endpoint = "POST /api/marketplace-site-agent-logs/"
    sim.add_fault(endpoint=endpoint, error_rate=1.0, status=503, times=2)
    buffer.add(line("hpc", "after two failures"))
    ref.proxy().ship().get()
    assert [r["message"] for r in sim.objects("agent_logs")] == ["after two failures"]
    sim.add_fault(endpoint=endpoint, error_rate=1.0, status=503, times=4)
    buffer.add(line("hpc", "given up after 4 tries"))
    ref.proxy().ship().get()
    sim.add_fault(endpoint=endpoint, error_rate=1.0, status=404, times=1)
    buffer.add(line("hpc", "no endpoint"))
    ref.proxy().ship().get()
    assert len(sim.objects("agent_logs")) == 1
    wait_for(lambda: len(posted(sim)) == 8, what="8 tries", log=lambda: str(posted(sim)))
    assert [r["status"] for r in posted(sim)] == [503, 503, 201, 503, 503, 503, 503, 404]


def test_logging_goes_on_while_waldur_holds_a_batch(sim, registered, shipper, shipping_logs):
    offering, identity = registered
    ref, _ = shipper
    ref.stop()
    timer = Timer()
    stuck = LogShipper.start(shipping_logs, 3600.0, timer)
    try:
        stuck.tell(IdentityRegistered(offering=offering, identity_uuid=identity))
        sim.add_fault(endpoint="POST /api/marketplace-site-agent-logs/", latency=2.0)
        log = logging.getLogger("actors.usage")
        log.warning("first", extra={"offering": "hpc"})
        sending = stuck.proxy().ship()
        # The shipper took the line and waits on Waldur; logging meanwhile only buffers.
        wait_for(lambda: len(shipping_logs) == 0, what="the shipper to take the line")
        for n in range(500):
            log.warning("meanwhile %d", n, extra={"offering": "hpc"})
        sending.get()
        sim.clear_faults()
        assert [r["message"] for r in sim.objects("agent_logs")] == ["first"]
        stuck.proxy().ship().get()
        assert len(sim.objects("agent_logs")) == 501
    finally:
        stuck.stop()
        timer.stop()
