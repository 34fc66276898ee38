import pytest

from simulators.waldur import WaldurSimulator
from simulators.waldur.client import ConsumerClient


@pytest.fixture
def sim():
    with WaldurSimulator(tick_interval=0) as simulator:
        yield simulator


@pytest.fixture
def consumer(sim):
    client = ConsumerClient(sim.api_url, sim.staff_token)
    yield client
    client.close()


@pytest.fixture
def world(sim):
    summary = sim.summary()
    return summary["offerings"][0], summary["projects"]
