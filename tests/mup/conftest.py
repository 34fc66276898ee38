import pytest

from simulators.mup import MupSimulator


@pytest.fixture
def mup():
    with MupSimulator(password="s3cret-Mup-pass") as simulator:
        yield simulator
