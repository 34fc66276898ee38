import pytest

from waldur_site_agent_actors.backends.croit_s3.backend import CroitS3Backend
from waldur_site_agent_actors.backends.structures import WaldurResource
from waldur_site_agent_actors.simulators.croit import CroitSimulator

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


@pytest.fixture
def croit():
    with CroitSimulator() as simulator:
        yield simulator


@pytest.fixture
def make_backend(croit):
    def make(components=COMPONENTS, **settings):
        values = {"api_url": croit.api_url, "token": croit.token, "timeout": 5, **settings}
        return CroitS3Backend(values, components)

    return make


@pytest.fixture
def backend(make_backend):
    return make_backend()
