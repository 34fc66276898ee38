"""The simulator's field table (simulators/waldur/fields.py) is what waldur-api-client's models
declare, so upgrading the client shows every new or changed field."""

from pathlib import Path

from waldur_site_agent_actors.simulators.waldur import fields, schema

ROOT = Path(__file__).resolve().parents[2]
TABLE = ROOT / "simulators" / "waldur" / "fields.py"
COMMAND = (
    "python -m waldur_site_agent_actors.simulators.waldur.schema > simulators/waldur/fields.py"
)


def test_the_committed_table_is_the_generated_one():
    assert TABLE.read_text(encoding="utf-8") == schema.render(), f"stale: run `{COMMAND}`"


def test_empty_values_follow_the_schema_types():
    empty = fields.EMPTY
    assert empty["OrderDetails"]["type"] == "Create"  # the schema's default
    assert empty["OrderDetails"]["cost"] is None  # nullable
    assert empty["OrderDetails"]["output"] == ""  # a string
    assert empty["OrderDetails"]["old_cost_estimate"] == 0.0  # a number
    assert empty["Resource"]["available_actions"] == []
    assert empty["Resource"]["usage_limit_restriction"] == ""  # its enum's blank choice
    assert empty["UserMe"]["profile_completeness"].keys() == {
        f.key for f in schema.fields("ProfileCompleteness")
    }  # a nested model: its own empty body
    for key in ("uuid", "created", "state", "marketplace_resource_uuid"):
        assert key not in empty["OrderDetails"]  # a UUID, datetime or enum: the simulator's own


def test_served_models_come_from_the_simulators_routes():
    served = schema.served_models()
    assert {"OrderDetails", "Resource", "OfferingUser", "ProjectUser", "UserMe"} <= set(served)
    assert "OfferingComponent" in served  # nested in offerings and resources
    assert "MergedPluginOptions" not in served  # stored JSON, passed through as it is
