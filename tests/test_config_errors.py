"""Every problem of a config file is reported at once, each with the path an operator writes."""

import pytest

from waldur_site_agent_actors.config import ConfigError, load_file, load_mapping
from waldur_site_agent_actors.config import plugins as plugin_registry

TOKEN = "0123456789abcdef0123456789abcdef01234567"


def offering(**overrides):
    base = {
        "name": "HPC",
        "waldur_api_url": "https://waldur.example.org/api/",
        "waldur_api_token": TOKEN,
        "waldur_offering_uuid": "d629d5e45567425da9cdbdc1af67b32c",
        "backend_type": "slurm",
    }
    return {**base, **overrides}


def errors_of(raw, **kwargs):
    with pytest.raises(ConfigError) as caught:
        load_mapping(raw, **kwargs)
    return caught.value.errors


def test_broken_example_lists_every_error_with_its_path(data_dir, fake_plugins):
    with pytest.raises(ConfigError) as caught:
        load_file(data_dir / "configs" / "broken.yaml")
    errors = caught.value.errors
    assert (
        'offerings[1].backend_components.cpu.unit_factor: expected a number > 0, got "sixty"'
        in errors
    )
    assert sorted(errors) == sorted(
        [
            'offerings[1].backend_components.cpu.unit_factor: expected a number > 0, got "sixty"',
            "offerings[1].waldur_offering_uuid: required key is missing",
            'offerings[2].waldur_api_url: expected an http(s) URL, got "waldur.example.org/api"',
            "offerings[2].backend_components.gpu.accounting_type: "
            'expected one of "usage", "limit", "one", got "metered"',
            'timezone: unknown IANA time zone "Mars/Olympus_Mons"',
            "reporting_periods: expected an integer >= 1 and <= 12, got 20",
        ]
    )
    assert len(errors) == 6
    assert caught.value.warnings == ["log_levl: unknown key (ignored); did you mean `log_level`?"]
    assert str(caught.value).startswith(f"{data_dir / 'configs' / 'broken.yaml'}: 6 error(s)")


def test_broken_example_with_strict_makes_the_typo_an_error(data_dir, fake_plugins):
    with pytest.raises(ConfigError) as caught:
        load_file(data_dir / "configs" / "broken.yaml", strict=True)
    assert len(caught.value.errors) == 7
    assert "log_levl: unknown key; did you mean `log_level`?" in caught.value.errors
    assert caught.value.warnings == []


def test_unknown_keys_are_warnings_with_their_path(fake_plugins):
    raw = {
        "offerings": [
            offering(stomp_enabeld=True, backend_components={"cpu": component(colour="red")})
        ],
        "mqtt_enabled": True,
        "log_shipping": {"enabld": True},
        "supervision": {"max_restart": 3},
    }
    loaded = load_mapping(raw)
    assert loaded.warnings == [
        "log_shipping.enabld: unknown key (ignored); did you mean `enabled`?",
        "mqtt_enabled: unknown key (ignored)",
        "offerings[0].stomp_enabeld: unknown key (ignored); did you mean `stomp_enabled`?",
        "supervision.max_restart: unknown key (ignored); did you mean `max_restarts`?",
    ]
    # Components keep their extra keys (plugins read them): not a warning.
    assert loaded.config.offerings[0].backend_components["cpu"].extra == {"colour": "red"}
    assert errors_of(raw, strict=True) == [
        w.replace("unknown key (ignored)", "unknown key") for w in loaded.warnings
    ]


def test_anchor_root_keys_are_not_config(fake_plugins):
    raw = {"x-common": {"a": 1}, "_shared": 2, ".hidden": 3, "offerings": [offering()]}
    assert load_mapping(raw, strict=True).warnings == []


def component(**overrides):
    return {"measured_unit": "k-Hours", "accounting_type": "usage", "label": "CPU", **overrides}


def test_unknown_backend_names_the_installed_ones(fake_plugins):
    errors = errors_of({"offerings": [offering(backend_type="slurmm")]})
    assert errors == [
        "offerings[0].backend_type: no plugin named 'slurmm' in waldur_site_agent.backends "
        "(installed: mycustom, slurm)"
    ]


def test_unknown_backend_in_a_role_key_is_reported_at_that_key(fake_plugins):
    errors = errors_of({"offerings": [offering(reporting_backend="moab")]})
    assert len(errors) == 1
    assert errors[0].startswith("offerings[0].reporting_backend: no plugin named 'moab'")


def test_a_broken_plugin_is_an_error_not_a_crash(fake_plugins):
    fake_plugins.add(plugin_registry.BACKENDS, "broken", "tests.no_such_module:Backend")
    errors = errors_of({"offerings": [offering(backend_type="broken")]})
    assert len(errors) == 1
    assert errors[0].startswith("offerings[0].backend_type: plugin 'broken'")
    assert "failed to import" in errors[0]


def test_no_backend_at_all(fake_plugins):
    errors = errors_of({"offerings": [offering(backend_type="")]})
    assert errors[0].startswith("offerings[0].backend_type: no backend named")


def test_plugin_settings_schema_failures_are_errors_with_their_path(fake_plugins):
    fake_plugins.add(plugin_registry.SETTINGS_SCHEMAS, "slurm", "tests.fakes:StrictSettings")
    raw = {
        "offerings": [
            offering(backend_settings={"max_jobs": 0, "default_acount": "root"}),
            offering(
                waldur_offering_uuid="5f3a4c9b0e6d4e4fa1c7b8d9e0f1a2b3",
                backend_settings={"qos_default": 7},
            ),
        ]
    }
    assert sorted(errors_of(raw)) == [
        "offerings[0].backend_settings.default_acount: unknown key; "
        "did you mean `default_account`?",
        "offerings[0].backend_settings.max_jobs: expected an integer >= 1, got 0",
        "offerings[1].backend_settings.qos_default: expected a string, got 7",
    ]


def test_plugin_settings_schema_that_passes(fake_plugins):
    fake_plugins.add(plugin_registry.SETTINGS_SCHEMAS, "slurm", "tests.fakes:StrictSettings")
    loaded = load_mapping({"offerings": [offering(backend_settings={"max_jobs": 5})]})
    assert loaded.config.offerings[0].backend_settings == {"max_jobs": 5}


def test_plugin_component_schema_checks_the_extra_keys(fake_plugins):
    fake_plugins.add(plugin_registry.COMPONENT_SCHEMAS, "slurm", "tests.fakes:ComponentExtras")
    raw = {
        "offerings": [
            offering(backend_components={"cpu": component(target_components="cores")}),
        ]
    }
    (error,) = errors_of(raw)
    assert error.startswith("offerings[0].backend_components.cpu.target_components: expected")


def test_errors_of_a_failed_offering_do_not_hide_another_offerings(fake_plugins):
    raw = {
        "offerings": [
            offering(waldur_api_url="ftp://x"),
            {k: v for k, v in offering(waldur_offering_uuid="another").items() if k != "name"},
        ]
    }
    assert sorted(errors_of(raw)) == [
        'offerings[0].waldur_api_url: expected an http(s) URL, got "ftp://x"',
        "offerings[1].name: required key is missing",
    ]


def test_duplicate_offering_uuid(fake_plugins):
    errors = errors_of({"offerings": [offering(), offering(name="again")]})
    assert errors == ["offerings[1].waldur_offering_uuid: same offering as offerings[0]"]


def test_token_or_oidc_is_required(fake_plugins):
    errors = errors_of({"offerings": [offering(waldur_api_token="", oidc_client_id="agent")]})
    assert errors == [
        "offerings[0].waldur_api_token: set a token, or all three of oidc_token_url, "
        "oidc_client_id, oidc_client_secret"
    ]
    oidc = {
        "waldur_api_token": "",
        "oidc_token_url": "https://sso.example.org/token",
        "oidc_client_id": "agent",
        "oidc_client_secret": "s3cr3t-value",
    }
    assert load_mapping({"offerings": [offering(**oidc)]}).config.offerings[0]


def test_offerings_is_required_and_must_be_a_list(fake_plugins):
    assert errors_of({}) == ["offerings: required key is missing"]
    assert errors_of({"offerings": {"a": 1}}) == ['offerings: expected a list, got {"a": 1}']
    assert errors_of(["offerings"]) == ['(root): expected a mapping, got ["offerings"]']


def test_log_level_is_case_insensitive_as_upstream(fake_plugins):
    raw = {"offerings": [offering()], "log_level": "debug", "log_shipping": {"log_level": "error"}}
    config = load_mapping(raw).config
    assert (config.log_level, config.log_shipping.log_level) == ("DEBUG", "ERROR")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing yet\n")
    with pytest.raises(ConfigError) as caught:
        load_file(path)
    assert caught.value.errors == ["(root): expected a mapping, got null"]


def test_unparseable_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("offerings: [\n")
    with pytest.raises(ConfigError) as caught:
        load_file(path)
    (error,) = caught.value.errors
    assert error.startswith(f"{path}:2:1: YAML syntax error: ")


def test_a_proxy_the_agent_cannot_use_is_refused_by_name_without_its_password(fake_plugins):
    assert load_mapping({"offerings": [offering()], "global_proxy": "http://proxy:3128"}).config
    for proxy in ("proxy:3128", "ftp://u:hunter2@proxy:21", "http://"):
        raw = {"offerings": [offering()], "global_proxy": proxy}
        [error] = errors_of(raw)
        assert error.startswith("global_proxy: expected a proxy URL"), error
        assert "hunter2" not in error


def test_membership_on_events_without_events_is_a_warning_and_stays_on_polling(fake_plugins):
    raw = {"offerings": [offering(stomp_membership_sync_enabled=True)]}
    loaded = load_mapping(raw)
    assert loaded.warnings == [
        "offerings[0].stomp_membership_sync_enabled: true, but stomp_enabled is not: no events to "
        "sync membership by, so it is synced by polling (set stomp_enabled, or remove the key)"
    ]
    assert loaded.config.offerings[0].membership_on_stomp is False
    events = {"offerings": [offering(stomp_membership_sync_enabled=True, stomp_enabled=True)]}
    assert load_mapping(events).warnings == []


def test_a_urls_credentials_are_never_echoed_in_an_error():
    from waldur_site_agent_actors.config.validate import shown

    assert shown("emu://admin:hunter2@emulator:8080/x") == '"emu://***@emulator:8080/x"'
    assert "hunter2" not in shown({"url": "http://a:hunter2@h/" + "x" * 100})
