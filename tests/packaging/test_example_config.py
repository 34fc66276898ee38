"""The example config the package ships validates strictly in the repository too (no root)."""

from pathlib import Path

from waldur_site_agent_actors.config import load_file

EXAMPLE = Path(__file__).resolve().parents[2] / "packaging" / "config.example.toml"


def test_the_shipped_example_validates_strictly():
    loaded = load_file(EXAMPLE, strict=True)
    assert loaded.warnings == []
    (offering,) = loaded.config.offerings
    assert offering.backend_for("order") == "slurm"
    assert offering.backend_components["cpu"].unit_factor == 60000
