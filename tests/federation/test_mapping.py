"""Component mapping: passthrough, fan-out, fan-in, and usage back (the seed's worked example).

The mapping is shared with the SLURM plugin (backends/component_mapping.py); what is the
federation's own here is that every component keeps `unit_factor` 1."""

import pytest

from tests.federation.conftest import COMPONENTS
from waldur_site_agent_actors.backends.component_mapping import ComponentMapper
from waldur_site_agent_actors.backends.exceptions import ConfigurationError
from waldur_site_agent_actors.backends.waldur.backend import WaldurBackend


def test_passthrough_keeps_name_and_amount():
    mapper = ComponentMapper({"cpu": {"accounting_type": "usage"}})
    assert mapper.limits_to_target({"cpu": 12}) == {"cpu": 12}
    assert mapper.usage_to_source({"cpu": 7.5}) == {"cpu": 7.5}


def test_the_seeds_example_fans_out_and_back():
    mapper = ComponentMapper(
        {
            "node_hours": {
                "target_components": {
                    "gpu_hours": {"factor": 5},
                    "storage_gb_hours": {"factor": 10},
                }
            }
        }
    )
    assert mapper.limits_to_target({"node_hours": 100}) == {
        "gpu_hours": 500,
        "storage_gb_hours": 1000,
    }
    assert mapper.usage_to_source({"gpu_hours": 500, "storage_gb_hours": 800}) == {
        "node_hours": 180
    }


def test_several_sources_add_up_on_one_target_and_each_gets_it_back():
    mapper = ComponentMapper(COMPONENTS)
    target = mapper.limits_to_target({"cpu": 100, "small_nodes": 2, "large_nodes": 3})
    assert target == {"cpu": 100, "nodes": 2 * 1 + 3 * 4}
    assert mapper.usage_to_source({"nodes": 8, "cpu": 40}) == {
        "cpu": 40,
        "small_nodes": 8,
        "large_nodes": 2,
    }


def test_limits_round_up_and_usage_keeps_two_decimals():
    mapper = ComponentMapper({"h": {"target_components": {"k": {"factor": 0.3}}}})
    assert mapper.limits_to_target({"h": 10}) == {"k": 3}  # 10 x 0.3 = 3.0000000000000004
    assert mapper.limits_to_target({"h": 11}) == {"k": 4}  # 3.3 -> never less than sold
    assert mapper.usage_to_source({"k": 1}) == {"h": 3.33}


def test_unmapped_usage_is_dropped_and_absent_sources_stay_absent():
    mapper = ComponentMapper(COMPONENTS)
    assert mapper.usage_to_source({"licences": 3, "gpu_hours": 50}) == {"node_hours": 10}


@pytest.mark.parametrize(
    ("component", "message"),
    [
        ({"unit_factor": 60, "target_components": {"x": {}}}, "unit_factor must be 1"),
        ({"target_components": {"x": {"factor": 0}}}, "factor"),
        ({"target_components": {"x": {"factr": 2}}}, "factr"),
    ],
)
def test_bad_components_are_configuration_errors(component, message):
    with pytest.raises(ConfigurationError, match=message):
        ComponentMapper({"cpu": component})


def test_the_federation_converts_with_factors_only(b):
    with pytest.raises(ConfigurationError, match="unit_factor must be 1 for the waldur backend"):
        WaldurBackend(b.settings(), {"cpu": {"accounting_type": "limit", "unit_factor": 60}})
