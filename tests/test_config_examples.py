"""The example configurations of tests/data/configs: each one loads, or fails as documented."""

import pytest

from waldur_site_agent_actors.config import load_file

VALID = ["seed-annotated.yaml", "multi-slurm.yaml", "multi-slurm.toml"]


@pytest.mark.parametrize("name", VALID)
def test_every_example_validates(name, data_dir, fake_plugins):
    loaded = load_file(data_dir / "configs" / name, strict=True)
    assert loaded.warnings == []
    assert loaded.config.offerings


def test_seed_annotated_keeps_its_values(data_dir, fake_plugins):
    config = load_file(data_dir / "configs" / "seed-annotated.yaml").config
    (offering,) = config.offerings
    assert offering.name == "My Custom Offering"
    assert offering.backend_for("order") == "mycustom"
    assert offering.username_management_backend == "base"
    assert offering.backend_settings["allocation_prefix"] == "alloc_"
    assert offering.backend_components["cpu"].unit_factor == 60000
    assert offering.backend_components["storage"].accounting_type == "limit"


def test_toml_and_yaml_twins_load_to_equal_structs(data_dir, fake_plugins):
    from_yaml = load_file(data_dir / "configs" / "multi-slurm.yaml").config
    from_toml = load_file(data_dir / "configs" / "multi-slurm.toml").config
    assert from_yaml == from_toml
    assert len(from_yaml.offerings) == 3
    gpu = from_yaml.offerings[1].backend_components["gpu"]
    assert (gpu.unit_factor, gpu.accounting_type) == (60, "usage")


def test_the_croit_seed_example_loads_with_the_installed_plugin(data_dir):
    # Its components carry neither measured_unit nor label, and plugin keys instead.
    loaded = load_file(data_dir / "configs" / "seed-croit.yaml", strict=True)
    components = loaded.config.offerings[0].backend_components
    assert components["s3_storage"].unit_factor == 1073741824
    assert loaded.warnings == []


@pytest.mark.parametrize("name", ["multi-slurm.yaml", "multi-slurm.toml"])
def test_the_slurm_examples_validate_with_the_real_plugin(name, data_dir):
    # Upstream-style SLURM settings against our real SLURM schema, not only the fakes.
    loaded = load_file(data_dir / "configs" / name, strict=True)
    assert loaded.warnings == []
