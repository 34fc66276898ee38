from dataclasses import dataclass
from typing import Any

import pytest

from waldur_site_agent_actors.backends.croit_s3.backend import CroitS3Backend
from waldur_site_agent_actors.backends.structures import WaldurResource
from waldur_site_agent_actors.simulators.croit import CroitSimulator
from waldur_site_agent_actors.simulators.radosgw import RadosGWSimulator

GIB = 1024**3

COMPONENTS = {
    "s3_storage": {
        "measured_unit": "GB",
        "accounting_type": "usage",
        "label": "S3 storage",
        "unit_factor": GIB,
        "backend_name": "storage",
        "enforce_limits": True,
    },
    "s3_objects": {
        "measured_unit": "objects",
        "accounting_type": "usage",
        "label": "S3 objects",
        "unit_factor": 1,
        "backend_name": "objects",
        "enforce_limits": True,
    },
}


def make_resource(**fields) -> WaldurResource:
    values = {
        "uuid": "3f2a9c1e-8d4b-4f6a-9e2c-1b7d5a0c9e11",
        "name": "my S3 storage",
        "customer_slug": "myorg",
        "project_slug": "myproject",
        "state": "Creating",
        "attributes": {"storage_limit": 5, "object_limit": 100},
        **fields,
    }
    return WaldurResource(**values)


@dataclass
class Gateway:
    """One flavour's stand-in and the settings an offering of it has; `state` is the cluster."""

    flavour: str
    sim: Any
    settings: dict[str, Any]
    endpoint: str

    @property
    def state(self) -> Any:
        return self.sim.state


def croit_gateway(sim: CroitSimulator) -> Gateway:
    return Gateway("croit", sim, {"api_url": sim.api_url, "token": sim.token}, sim.api_url)


def radosgw_gateway(sim: RadosGWSimulator) -> Gateway:
    settings = {
        "flavour": "radosgw",
        "s3_endpoint": sim.endpoint,
        "admin_access_key": sim.admin_access_key,
        "admin_secret_key": sim.admin_secret_key,
    }
    return Gateway("radosgw", sim, settings, sim.endpoint)


@pytest.fixture
def croit():
    with CroitSimulator() as simulator:
        yield simulator


@pytest.fixture
def radosgw():
    with RadosGWSimulator() as simulator:
        yield simulator


@pytest.fixture(params=["croit", "radosgw"])
def s3(request):
    """Each flavour in turn: what the backend does must not depend on it."""
    if request.param == "croit":
        yield croit_gateway(request.getfixturevalue("croit"))
    else:
        yield radosgw_gateway(request.getfixturevalue("radosgw"))


def backend_of(gateway: Gateway, components=COMPONENTS, **settings: Any) -> CroitS3Backend:
    return CroitS3Backend({**gateway.settings, "timeout": 5, **settings}, components)


@pytest.fixture
def make_backend(s3):
    def make(components=COMPONENTS, **settings):
        return backend_of(s3, components, **settings)

    return make


@pytest.fixture
def backend(make_backend):
    return make_backend()
