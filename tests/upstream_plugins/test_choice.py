"""Same-named plugins in one venv (this agent's `mup`, `moab`, `slurm`, `waldur`, `base` next to
upstream's): `validate` names every candidate and the one chosen by the documented rule, a pin
picks another, and what `validate` refuses is what `run` refuses."""

from __future__ import annotations

import os
import subprocess

import pytest
import yaml

from tests.e2e.harness import Agent, wait_for
from tests.upstream_plugins.dist import plugin_dist

pytestmark = pytest.mark.upstream

OURS = "waldur-site-agent-actors"
TOKEN = "0123456789abcdef0123456789abcdef01234567"


def offering(**overrides):
    return {
        "name": "choice",
        "waldur_api_url": "https://waldur.example.org/api/",
        "waldur_api_token": TOKEN,
        "waldur_offering_uuid": "d629d5e45567425da9cdbdc1af67b32c",
        "backend_type": "mup",
        "backend_settings": {
            "api_url": "https://mup.example.org/",
            "username": "u",
            "password": "p",
        },
        "backend_components": {
            "cpu": {"measured_unit": "h", "accounting_type": "limit", "label": "CPU"}
        },
        **overrides,
    }


def validate(python, tmp_path, env=None, **overrides):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"offerings": [offering(**overrides)]}))
    return subprocess.run(
        [python, "-m", "waldur_site_agent_actors.agent.cli", "validate", "-c", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_unpinned_same_name_runs_this_agents_plugin_and_says_so(python, tmp_path, sim):
    checked = validate(python, tmp_path)
    assert checked.returncode == 0, checked.stderr
    choice = (
        "'mup' (waldur_site_agent_actors.backends.mup.backend:MupBackend) from "
        f"{OURS} 0.1.0, this agent's own plugin wins; candidates: {OURS} 0.1.0, "
        "waldur-site-agent-mup 1.0.7"
    )
    assert (
        f"warning: offerings[0].backend_type: {choice}; pin one with "
        "offerings[0].plugin_distributions.mup"
    ) in checked.stderr
    # The start-up log says the same.
    uuid = sim.summary()["offerings"][0]["uuid"]
    agent = Agent(tmp_path, [offering(waldur_api_url=sim.api_url, waldur_offering_uuid=uuid)])
    agent.start(python=python)
    try:
        wait_for(lambda: f"backend {choice}" in agent.log(), what="the choice", log=agent.log)
    finally:
        assert agent.stop() == 0
    # The username backend every offering names implicitly clashes the same way.
    assert "offerings[0].username_management_backend: 'base' (waldur_site_agent_actors" in (
        checked.stderr
    )


def test_a_pin_chooses_the_distribution_and_validate_names_it(python, tmp_path):
    checked = validate(python, tmp_path, plugin_distributions={"mup": "waldur_site_agent_mup"})
    assert checked.returncode == 0, checked.stderr
    assert (
        "note: offerings[0].backend_type: 'mup' (waldur_site_agent_mup.backend:MUPBackend) from "
        "waldur-site-agent-mup 1.0.7, pinned in plugin_distributions; candidates: "
        f"{OURS} 0.1.0, waldur-site-agent-mup 1.0.7"
    ) in checked.stdout
    assert "offerings[0].backend_type" not in checked.stderr


def test_a_pin_that_cannot_be_honoured_is_an_error(python, tmp_path):
    wrong = validate(python, tmp_path, plugin_distributions={"mup": "waldur-site-agent-moab"})
    assert wrong.returncode == 2
    assert (
        "offerings[0].plugin_distributions.mup: plugin 'mup' is not provided by "
        f"'waldur-site-agent-moab' (provided by: {OURS} 0.1.0, waldur-site-agent-mup 1.0.7)"
    ) in wrong.stderr
    unused = validate(python, tmp_path, plugin_distributions={"slurm": OURS})
    assert unused.returncode == 2
    assert "offerings[0].plugin_distributions.slurm: the offering names no plugin 'slurm'" in (
        unused.stderr
    )


UPSTREAM_PLUGIN = """
from waldur_site_agent_mycustom.backend import MyCustomBackend


class Backend(MyCustomBackend):
    pass
"""


def test_the_rule_does_not_depend_on_the_order_site_packages_lists(python, tmp_path):
    """Two outside distributions register `twin`: the first by name wins, whichever comes
    first on the path."""
    plugin_dist(tmp_path / "one", "zzz-plugin", "twin", "zzz", UPSTREAM_PLUGIN)
    plugin_dist(tmp_path / "two", "aaa-plugin", "twin", "aaa", UPSTREAM_PLUGIN)
    for order in (["one", "two"], ["two", "one"]):
        path = os.pathsep.join(str(tmp_path / d) for d in order)
        checked = validate(
            python,
            tmp_path,
            env={"PYTHONPATH": path},
            backend_type="twin",
            backend_settings={"state_file": str(tmp_path / "s.json")},
        )
        assert checked.returncode == 0, checked.stderr
        assert (
            "'twin' (aaa:Backend) from aaa-plugin 1.0, first distribution by name; "
            "candidates: aaa-plugin 1.0, zzz-plugin 1.0"
        ) in checked.stderr


def test_a_plugin_upstreams_core_cannot_import_is_found_by_validate(python, tmp_path):
    """Upstream's core imports every installed plugin when an upstream plugin runs (this
    agent's own import without their optional extras: the venv has no ldap3 for `ldap`); one
    that cannot be imported is named at validate, not found by each membership sync."""
    settings = {"state_file": str(tmp_path / "s.json")}
    clean = validate(python, tmp_path, backend_type="mycustom", backend_settings=settings)
    assert clean.returncode == 0, clean.stderr
    plugin_dist(tmp_path / "site", "broken-plugin", "broken", "broken", "import nosuch_module\n")
    checked = validate(
        python,
        tmp_path,
        env={"PYTHONPATH": str(tmp_path / "site")},
        backend_type="mycustom",
        backend_settings=settings,
    )
    assert checked.returncode == 2, checked.stderr
    assert (
        "offerings[0].backend_type: plugin 'mycustom' from waldur-site-agent-mycustom 0.1.0: "
        "upstream's core imports every installed plugin and fails: No module named "
        "'nosuch_module'"
    ) in checked.stderr
    # This agent's `ldap` imports without ldap3; named, it is refused for the missing extra.
    named = validate(
        python,
        tmp_path,
        backend_type="mycustom",
        backend_settings=settings,
        username_management_backend="ldap",
    )
    assert named.returncode == 2, named.stderr
    assert (
        f"offerings[0].username_management_backend: username plugin 'ldap' from {OURS} 0.1.0 "
        "needs ldap3, which is not installed (the plugin's optional extra)"
    ) in named.stderr


def test_core_settings_an_upstream_plugin_has_are_not_refused_for_it(python, tmp_path):
    """The guide's schema forbids unknown keys, yet upstream's core reads `soft_delete` for every
    plugin, so that key loads; a key neither the schema nor the core knows is still refused."""
    settings = {"state_file": str(tmp_path / "s.json"), "soft_delete": True}
    checked = validate(python, tmp_path, backend_type="mycustom", backend_settings=settings)
    assert checked.returncode == 0, checked.stderr
    typo = validate(
        python, tmp_path, backend_type="mycustom", backend_settings={**settings, "soft_delet": True}
    )
    assert typo.returncode == 2, typo.stderr
    assert "offerings[0].backend_settings.soft_delet" in typo.stderr


def test_what_validate_refuses_for_an_upstream_plugin_run_refuses_alike(python, tmp_path, sim):
    """Upstream's federation plugin subscribing to its target's events, which this agent does
    not run for upstream plugins: `validate` refuses it, and `run` refuses the offering with the
    same words instead of starting it without the events."""
    settings = {
        "target_api_url": "https://b.example.org/api/",
        "target_api_token": TOKEN,
        "target_offering_uuid": "a629d5e45567425da9cdbdc1af67b32c",
        "target_customer_uuid": "b629d5e45567425da9cdbdc1af67b32c",
        "target_stomp_enabled": True,
    }
    overrides = {
        "backend_type": "waldur",
        "plugin_distributions": {"waldur": "waldur-site-agent-waldur"},
        "backend_settings": settings,
    }
    refusal = "subscribes to its target's events (target_stomp_enabled)"
    checked = validate(python, tmp_path, **overrides)
    assert checked.returncode == 2, checked.stdout
    assert "offerings[0].backend_type: plugin 'waldur' from waldur-site-agent-waldur 1.0.7: " in (
        checked.stderr
    )
    assert refusal in checked.stderr

    offering_uuid = sim.summary()["offerings"][0]["uuid"]
    config = offering(**overrides, waldur_api_url=sim.api_url, waldur_offering_uuid=offering_uuid)
    agent = Agent(tmp_path, [config]).start(python=python)
    try:
        wait_for(lambda: refusal in agent.log(), what="the offering refused", log=agent.log)
    finally:
        assert agent.stop() == 0


IMPORTS_PROBE = """
import sys
from waldur_site_agent_actors.agent.cli import main
from waldur_site_agent_actors.config import load_file
from waldur_site_agent_actors.actors.plugins import make_backend
assert main(["validate", "-c", sys.argv[1]]) == 0
config = load_file(sys.argv[1]).config
make_backend(config.offerings[0].backend_type, config.offerings[0], config)
print(sorted({m.split(".")[0] for m in sys.modules} & {"waldur_api_client", "waldur_site_agent"}))
"""


@pytest.mark.parametrize(
    ("overrides", "imported"),
    [
        ({}, []),
        (
            {"plugin_distributions": {"mup": "waldur-site-agent-mup"}},
            ["waldur_api_client", "waldur_site_agent"],
        ),
    ],
    ids=["this agent's mup", "upstream's mup"],
)
def test_only_an_offering_naming_an_upstream_plugin_imports_upstreams_core(
    python, tmp_path, overrides, imported
):
    """Validating and making the offering's plugin, in a venv holding upstream's core: this
    agent's `mup` leaves `waldur_api_client` (seconds and 100 MiB) and upstream's core unloaded."""
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"offerings": [offering(**overrides)]}))
    probe = subprocess.run(
        [python, "-c", IMPORTS_PROBE, str(path)], capture_output=True, text=True, timeout=120
    )
    assert probe.returncode == 0, probe.stderr[-2000:]
    assert probe.stdout.strip().splitlines()[-1] == str(imported)
