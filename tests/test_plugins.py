"""Plugins installed as a separate distribution are found by entry-point name alone.

`tests/fixtures/thirdparty_plugin` is installed editable into .venv by ./test: it registers
`fixture` in all four groups and a backend `broken` whose module cannot be imported.
"""

import importlib.metadata
import sys

import pytest
from fixture_plugin import client as fixture_client
from fixture_plugin.backend import FixtureBackend
from fixture_plugin.schemas import FixtureComponent, FixtureSettings
from fixture_plugin.usernames import FixtureUsernames

from waldur_site_agent_actors.backends.discovery import backend_class, create_backend
from waldur_site_agent_actors.backends.structures import WaldurResource
from waldur_site_agent_actors.backends.usernames import OfferingUserInfo
from waldur_site_agent_actors.config import ConfigError, load_mapping, plugins

TOKEN = "0123456789abcdef0123456789abcdef01234567"
CPU = {"measured_unit": "k-Hours", "accounting_type": "usage", "label": "CPU"}


@pytest.fixture(autouse=True)
def real_entry_points():
    """The installed entry points, not a fake registry another test may have left cached."""
    plugins.installed.cache_clear()
    fixture_client.reset()
    yield
    plugins.installed.cache_clear()
    fixture_client.reset()


def offering(**overrides):
    base = {
        "name": "Toy",
        "waldur_api_url": "https://waldur.example.org/api/",
        "waldur_api_token": TOKEN,
        "waldur_offering_uuid": "d629d5e45567425da9cdbdc1af67b32c",
        "backend_type": "fixture",
        "backend_settings": {"endpoint": "mem://toy"},
        "backend_components": {"cpu": {**CPU, "unit_factor": 60000, "backend_name": "cpu-min"}},
    }
    return {**base, **overrides}


def load_one(**overrides):
    return load_mapping({"offerings": [offering(**overrides)]}).config.offerings[0]


def errors_of(**overrides):
    with pytest.raises(ConfigError) as caught:
        load_mapping({"offerings": [offering(**overrides)]})
    return caught.value.errors


def test_fixture_is_registered_in_all_four_groups():
    expected = {
        plugins.BACKENDS: FixtureBackend,
        plugins.SETTINGS_SCHEMAS: FixtureSettings,
        plugins.COMPONENT_SCHEMAS: FixtureComponent,
        plugins.USERNAME_BACKENDS: FixtureUsernames,
    }
    for group, obj in expected.items():
        assert "fixture" in plugins.installed(group), group
        assert plugins.load(group, "fixture") is obj
    assert "broken" in plugins.installed(plugins.BACKENDS)


def test_backend_is_created_by_name_from_a_loaded_config():
    loaded = load_one()
    backend = create_backend(loaded.backend_for("order"), loaded)
    assert type(backend) is FixtureBackend
    assert backend.settings == FixtureSettings(endpoint="mem://toy")
    # Components reach the plugin as plain dicts, its own keys inlined next to the core ones.
    assert backend.backend_components["cpu"]["backend_name"] == "cpu-min"
    assert backend.backend_components["cpu"]["unit_factor"] == 60000
    assert "extra" not in backend.backend_components["cpu"]
    # And it works: a resource created through the BaseBackend defaults is on the "system".
    info = backend.create_resource(WaldurResource(uuid="u1", slug="alloc-1", name="Alloc 1"))
    assert info.backend_id == "fx_alloc-1"
    assert backend.list_resources()[0].description == "Alloc 1"


def test_names_are_case_insensitive():
    loaded = load_one(backend_type="Fixture")
    assert isinstance(create_backend(loaded.backend_for("report"), loaded), FixtureBackend)
    assert backend_class("FIXTURE") is FixtureBackend


def test_settings_schema_missing_required_key():
    settings = {"retries": 5}
    assert errors_of(backend_settings=settings) == [
        "offerings[0].backend_settings.endpoint: required key is missing"
    ]


def test_settings_schema_wrong_type_and_unknown_key_are_errors_with_their_path():
    settings = {"endpoint": "mem://toy", "retries": "three", "colour": "blue"}
    assert sorted(errors_of(backend_settings=settings)) == [
        "offerings[0].backend_settings.colour: unknown key",
        'offerings[0].backend_settings.retries: expected an integer >= 0, got "three"',
    ]


def test_settings_schema_defaults_apply():
    backend = create_backend("fixture", load_one())
    assert isinstance(backend, FixtureBackend)
    assert backend.settings.retries == 3


def test_component_schema_checks_the_plugins_own_keys_only():
    components = {
        "cpu": {**CPU, "unit_factor": 60000, "weight": 0},
        "gpu": {**CPU, "label": "GPU", "wheight": 2},
        "mem": {**CPU, "label": "Memory", "weight": 0.5},
    }
    assert sorted(errors_of(backend_components=components)) == [
        "offerings[0].backend_components.cpu.weight: expected a number > 0, got 0",
        "offerings[0].backend_components.gpu.wheight: unknown key; did you mean `weight`?",
    ]


def test_errors_of_two_offerings_are_all_reported():
    raw = {
        "offerings": [
            offering(backend_settings={}),
            offering(
                waldur_offering_uuid="aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                backend_settings={"endpoint": 7},
            ),
        ]
    }
    with pytest.raises(ConfigError) as caught:
        load_mapping(raw)
    assert caught.value.errors == [
        "offerings[0].backend_settings.endpoint: required key is missing",
        "offerings[1].backend_settings.endpoint: expected a string, got 7",
    ]


def test_unknown_backend_lists_the_installed_names():
    (error,) = errors_of(backend_type="fixtur")
    assert error.startswith("offerings[0].backend_type: no plugin named 'fixtur'")
    installed = error.split("(installed: ")[1].rstrip(")").split(", ")
    assert {"fixture", "demo", "broken"} <= set(installed)
    assert installed == sorted(installed)
    with pytest.raises(plugins.UnknownPlugin) as caught:
        create_backend("fixtur", load_one())
    assert "fixture" in caught.value.installed


def test_unknown_backend_in_a_per_mode_key_names_that_key():
    (error,) = errors_of(reporting_backend="nosuch")
    assert error.startswith("offerings[0].reporting_backend: no plugin named 'nosuch'")


def test_an_installed_broken_plugin_is_never_imported_unless_named(monkeypatch):
    imported = []
    real_import = importlib.metadata.import_module

    def recording(name, *args):
        imported.append(name)
        return real_import(name, *args)

    monkeypatch.setattr(importlib.metadata, "import_module", recording)
    loaded = load_one()
    create_backend(loaded.backend_for("order"), loaded)
    assert "fixture_plugin.backend" in imported
    assert not any("broken" in name for name in imported)
    assert "fixture_plugin.broken" not in sys.modules


def test_naming_the_broken_plugin_is_a_clear_error():
    (error,) = errors_of(backend_type="broken")
    assert error == (
        "offerings[0].backend_type: plugin 'broken' (fixture_plugin.broken:BrokenBackend) "
        "failed to import: No module named 'fixture_plugin_missing_dependency'"
    )
    with pytest.raises(plugins.BrokenPlugin, match=r"plugin 'broken'.*failed to import") as caught:
        create_backend("broken", load_one())
    assert isinstance(caught.value.__cause__, ImportError)


def test_per_mode_keys_fall_back_to_backend_type():
    loaded = load_one(reporting_backend="FIXTURE")
    assert loaded.backend_for("order") == "fixture"
    assert loaded.backend_for("report") == "fixture"
    assert loaded.backend_for("membership") == "fixture"
    only_order = load_one(backend_type="", order_processing_backend="fixture")
    assert only_order.backend_for("order") == "fixture"
    assert only_order.backend_for("report") == ""
    assert only_order.backend_for("membership") == ""


def test_per_mode_key_alone_still_gets_its_schema_checked():
    assert errors_of(backend_type="", membership_sync_backend="fixture", backend_settings={}) == [
        "offerings[0].backend_settings.endpoint: required key is missing"
    ]


def test_username_backend_by_name():
    loaded = load_one(username_management_backend="fixture")
    cls = plugins.load(plugins.USERNAME_BACKENDS, loaded.username_management_backend)
    usernames = cls(backend_settings=loaded.backend_settings, offering=loaded)
    user = OfferingUserInfo(uuid="0f0f", user_username="Alice")
    assert usernames.get_or_create_username(user) == "fx-alice"
    (error,) = errors_of(username_management_backend="nosuch")
    assert error.startswith(
        "offerings[0].username_management_backend: no plugin named 'nosuch' in "
        "waldur_site_agent.username_management_backends (installed: "
    )
    assert "fixture" in error.split("(installed: ")[1]


def test_builtin_base_username_backend_needs_no_plugin():
    assert load_one(username_management_backend="base").username_management_backend == "base"


def test_create_backend_refuses_a_plugin_that_is_not_a_backend(monkeypatch):
    real = plugins.installed

    def with_schema_as_backend(group):
        points = dict(real(group))
        if group == plugins.BACKENDS:
            point = importlib.metadata.EntryPoint(
                "weird", "fixture_plugin.schemas:FixtureSettings", group
            )
            points["weird"] = (plugins.Candidate(point, "weird-plugin", "1.0"),)
        return points

    monkeypatch.setattr(plugins, "installed", with_schema_as_backend)
    from waldur_site_agent_actors.backends.exceptions import ConfigurationError

    with pytest.raises(ConfigurationError, match="not a BaseBackend subclass"):
        backend_class("weird")


def test_entry_point_names_with_capitals_are_found(fake_plugins):
    fake_plugins.add(plugins.BACKENDS, "MyCustomHPC", "tests.fakes:FakeBackend")
    assert plugins.find(plugins.BACKENDS, "mycustomhpc") is not None
    assert backend_class("MYCUSTOMHPC").__name__ == "FakeBackend"
    assert load_one(backend_type="MyCustomHPC", backend_settings={}).backend_type == "MyCustomHPC"


@pytest.mark.parametrize("written", ["ceph_s3", "ceph-s3", "croit_s3", "croit-s3", "Croit_S3"])
@pytest.mark.parametrize("registered", ["ceph_s3", "croit_s3"])
def test_renamed_s3_plugin_is_found_by_any_of_its_names(fake_plugins, written, registered):
    """Upstream renamed `croit_s3` to `ceph_s3`: old configs and old plugin packages both work."""
    fake_plugins.add(plugins.BACKENDS, registered, "tests.fakes:FakeBackend")
    point = plugins.find(plugins.BACKENDS, written)
    assert point is not None and point.name == registered
    assert (
        load_one(backend_type=written, backend_settings={}).backend_for("order") == written.lower()
    )


def test_an_installed_name_wins_over_an_alias(fake_plugins):
    fake_plugins.add(plugins.BACKENDS, "croit_s3", "tests.fakes:FakeBackend")
    fake_plugins.add(plugins.BACKENDS, "ceph_s3", "tests.fakes:StrictSettings")
    assert plugins.find(plugins.BACKENDS, "croit_s3").value == "tests.fakes:FakeBackend"
    assert plugins.find(plugins.BACKENDS, "ceph-s3").value == "tests.fakes:StrictSettings"


def test_an_entry_point_naming_a_missing_attribute_is_broken(fake_plugins):
    fake_plugins.add(plugins.BACKENDS, "typo", "fixture_plugin.backend:FixtureBackendd")
    with pytest.raises(plugins.BrokenPlugin, match=r"plugin 'typo'.*FixtureBackendd"):
        backend_class("typo")


def test_a_broken_schema_is_reported_at_the_settings_path(fake_plugins):
    fake_plugins.add(plugins.BACKENDS, "fixture", "fixture_plugin.backend:FixtureBackend")
    fake_plugins.add(plugins.SETTINGS_SCHEMAS, "fixture", "fixture_plugin.broken:Settings")
    (error,) = errors_of()
    assert error.startswith(
        "offerings[0].backend_settings: plugin 'fixture' (fixture_plugin.broken:Settings) "
        "failed to import"
    )


# Same-named plugins: the rule of config.plugins, over fake distributions.


def twins(fake_plugins, *distributions):
    for distribution in distributions:
        fake_plugins.add(plugins.BACKENDS, "twin", "tests.fakes:FakeBackend", distribution)


def test_this_agents_own_plugin_wins_over_a_same_named_one(fake_plugins):
    twins(fake_plugins, "aaa-early-name", plugins.OWN_DISTRIBUTION)
    choice = plugins.choose(plugins.BACKENDS, "twin")
    assert (choice.chosen.distribution, choice.rule) == (plugins.OWN_DISTRIBUTION, plugins.OWN)
    assert [c.distribution for c in choice.candidates] == [
        "aaa-early-name",
        plugins.OWN_DISTRIBUTION,
    ]


def test_among_other_distributions_the_first_by_name_wins(fake_plugins):
    twins(fake_plugins, "zeta-plugin", "Alpha_Plugin")
    choice = plugins.choose(plugins.BACKENDS, "twin")
    assert (choice.chosen.distribution, choice.rule) == ("Alpha_Plugin", plugins.FIRST)


def test_a_pin_picks_its_distribution_spelt_as_pip_spells_it(fake_plugins):
    twins(fake_plugins, "zeta-plugin", plugins.OWN_DISTRIBUTION)
    choice = plugins.choose(plugins.BACKENDS, "twin", "Zeta_Plugin")
    assert (choice.chosen.distribution, choice.rule) == ("zeta-plugin", plugins.PINNED)
    with pytest.raises(plugins.UnknownDistribution, match="not provided by 'nope'"):
        plugins.choose(plugins.BACKENDS, "twin", "nope")


def test_validate_warns_of_an_unpinned_twin_and_notes_a_pinned_one(fake_plugins):
    twins(fake_plugins, "zeta-plugin", "alpha-plugin")
    loaded = load_one(backend_type="twin", backend_settings={})
    loaded_config = load_mapping(
        {"offerings": [offering(backend_type="twin", backend_settings={})]}
    )
    assert loaded.backend_type == "twin"
    (warning,) = [w for w in loaded_config.warnings if "twin" in w]
    assert warning == (
        "offerings[0].backend_type: 'twin' (tests.fakes:FakeBackend) from alpha-plugin 1.0, "
        "first distribution by name; candidates: alpha-plugin 1.0, zeta-plugin 1.0; pin one "
        "with offerings[0].plugin_distributions.twin"
    )
    pinned = load_mapping(
        {
            "offerings": [
                offering(
                    backend_type="twin",
                    backend_settings={},
                    plugin_distributions={"Twin": "zeta-plugin"},
                )
            ]
        }
    )
    assert not [w for w in pinned.warnings if "twin" in w]
    assert pinned.notes == (
        "offerings[0].backend_type: 'twin' (tests.fakes:FakeBackend) from zeta-plugin 1.0, "
        "pinned in plugin_distributions; candidates: alpha-plugin 1.0, zeta-plugin 1.0",
    )


def test_pins_for_names_the_offering_does_not_use_or_cannot_have_are_errors(fake_plugins):
    twins(fake_plugins, "zeta-plugin", "alpha-plugin")
    assert errors_of(backend_type="twin", backend_settings={}, plugin_distributions={"x": "y"}) == [
        "offerings[0].plugin_distributions.x: the offering names no plugin 'x' (pins are for "
        "the backend_type, role and username_management_backend plugins it names)"
    ]
    assert errors_of(
        backend_type="twin", backend_settings={}, plugin_distributions={"twin": "omega"}
    ) == [
        "offerings[0].plugin_distributions.twin: plugin 'twin' is not provided by 'omega' "
        "(provided by: alpha-plugin 1.0, zeta-plugin 1.0)"
    ]


def test_the_settings_schema_is_the_chosen_distributions(fake_plugins):
    """Another package's schema of the same name describes another package's settings."""
    twins(fake_plugins, "zeta-plugin", "alpha-plugin")
    fake_plugins.add(plugins.SETTINGS_SCHEMAS, "twin", "tests.fakes:StrictSettings", "zeta-plugin")
    odd = {"not_a_strict_setting": 1}
    assert load_one(backend_type="twin", backend_settings=odd).backend_settings == odd
    assert errors_of(
        backend_type="twin", backend_settings=odd, plugin_distributions={"twin": "zeta-plugin"}
    ) == ["offerings[0].backend_settings.not_a_strict_setting: unknown key"]
