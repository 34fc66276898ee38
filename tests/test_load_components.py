"""`load-components` (upstream's `waldur_site_load_components`): every setting a component has
in the config reaches the offering's component in Waldur, whether the component is new or one
Waldur already has."""

from typing import Any

import yaml

from tests.e2e.harness import offering_config
from waldur_site_agent_actors.agent.cli import main

# Every optional key upstream forwards, none at Waldur's default. Waldur refuses the duration
# keys on a component that is not prepaid, so this one is.
SETTINGS: dict[str, Any] = {
    "description": "Project storage on the parallel file system",
    "min_value": 2,
    "max_value": 500,
    "max_available_limit": 400,
    "default_limit": 50,
    "limit_period": "quarterly",
    "article_code": "ART-7",
    "is_prepaid": True,
    "min_prepaid_duration": 3,
    "max_prepaid_duration": 24,
    "prepaid_duration_step": 3,
    "min_renewal_duration": 6,
    "max_renewal_duration": 36,
    "renewal_duration_step": 6,
}
# `is_boolean` alone: Waldur then fixes the range to 0..1 a month, whatever else is sent.
CHECKBOX: dict[str, Any] = {"is_boolean": True}


def component(label: str, accounting_type: str, **settings: Any) -> dict[str, Any]:
    return {"label": label, "measured_unit": "u", "accounting_type": accounting_type, **settings}


def shown(consumer, offering: dict[str, Any]) -> dict[str, dict[str, Any]]:
    details = consumer._call("GET", f"marketplace-provider-offerings/{offering['uuid']}/")
    return {c["type"]: c for c in details["components"]}


def test_every_component_setting_reaches_waldur_on_create_and_on_update(
    tmp_path, sim, consumer, world
):
    offering, _ = world
    before = shown(consumer, offering)
    assert {"cpu", "gpu"} <= set(before) and not {"storage", "licence", "setup"} & set(before)
    config = offering_config(sim, offering, tmp_path)
    config["backend_components"] = {
        "cpu": component("CPU", "limit", limit=40, **SETTINGS),  # Waldur has it: updated
        "storage": component("Storage", "limit", limit=40, **SETTINGS),  # created
        "gpu": component("GPU", "usage", **CHECKBOX),
        "licence": component("Licence", "limit", **CHECKBOX),
        "setup": component("Setup", "one"),  # one-time: prepaid unless the config says not
    }
    path = tmp_path / "waldur-site-agent-config.yaml"
    path.write_text(yaml.safe_dump({"offerings": [config]}))

    assert main(["load-components", "-c", str(path)]) == 0

    after = shown(consumer, offering)
    for kind in ("cpu", "gpu"):
        assert after[kind]["uuid"] == before[kind]["uuid"]  # updated in place, not replaced
    for kind in ("cpu", "storage"):
        got = {key: after[kind][key] for key in SETTINGS}
        assert got == SETTINGS, kind
        assert after[kind]["limit_amount"] == 40
    for kind in ("gpu", "licence"):
        assert after[kind]["is_boolean"] is True, kind
        range_ = (after[kind]["min_value"], after[kind]["max_value"], after[kind]["limit_period"])
        assert range_ == (0, 1, "month"), kind
    assert after["setup"]["is_prepaid"] is True
    assert after["gpu"]["billing_type"] == "usage" and after["setup"]["billing_type"] == "one"
