import pytest

from waldur_site_agent_actors.simulators.mup import MupSimulator


@pytest.fixture
def mup():
    with MupSimulator(password="s3cret-Mup-pass") as simulator:
        yield simulator
