"""The Waldur side of the MOAB tests: an offering selling one `deposit` component (EUR)."""

from waldur_site_agent_actors.simulators.waldur.seed import default_scenario

DEPOSIT = {
    "measured_unit": "EUR",
    "accounting_type": "limit",
    "label": "Deposit",
    "unit_factor": 1,
}


def moab_scenario():
    """The simulator's default world, its offering selling deposits instead of CPU hours."""
    spec = default_scenario()
    offering = spec["offerings"][0]
    offering["name"] = "MOAB cluster"
    offering["components"] = [
        {"type": "deposit", "name": "Deposit", "billing_type": "limit", "measured_unit": "EUR"}
    ]
    offering["plans"] = [{"name": "Default", "quotas": {"deposit": 0}, "prices": {"deposit": "1"}}]
    return spec
