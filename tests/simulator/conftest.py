import pytest
import requests

from tests.simulator.schema_check import Bodies
from waldur_site_agent_actors.simulators.waldur import WaldurSimulator


class Api:
    """A thin `requests` client that speaks to the simulator as one user."""

    def __init__(self, sim: WaldurSimulator, token: str | None) -> None:
        self.sim = sim
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Token {token}"

    def url(self, path: str) -> str:
        return path if path.startswith("http") else self.sim.api_url + path.lstrip("/")

    def get(self, path: str, **params) -> requests.Response:
        return self.session.get(self.url(path), params=params, timeout=10)

    def post(self, path: str, body=None) -> requests.Response:
        return self.session.post(self.url(path), json={} if body is None else body, timeout=10)

    def send(self, method: str, path: str, body=None) -> requests.Response:
        return self.session.request(method, self.url(path), json=body, timeout=10)


@pytest.fixture
def sim():
    """A simulator whose every answer is checked against the client's schema at the end."""
    with WaldurSimulator() as simulator:
        bodies = Bodies(simulator)
        yield simulator
    mismatches = bodies.mismatches()
    assert not mismatches, "bodies unlike the schema:\n" + "\n".join(mismatches)


@pytest.fixture
def info(sim):
    return sim.summary()


@pytest.fixture
def staff(sim):
    return Api(sim, sim.staff_token)


@pytest.fixture
def provider(sim):
    return Api(sim, sim.provider_token)


@pytest.fixture
def user_api(sim):
    return lambda username: Api(sim, sim.token(username))
