"""`config show`, environment overrides, role fallback and secret masking in logs."""

import base64
import logging
import sys
import tomllib

import pytest
import yaml

from waldur_site_agent_actors.agent.cli import EXIT_CONFIG, EXIT_OK, main
from waldur_site_agent_actors.config import load_file, load_mapping
from waldur_site_agent_actors.config.secrets import MASK, SecretFilter, secret_values

TOKEN = "0123456789abcdef0123456789abcdef01234567"
PASSWORD = "hunter2-correct-horse"
CLIENT_SECRET = "oidc-client-secret-value"
PROXY_PASSWORD = "proxy-pass-word"
PROXY = f"http://agent:{PROXY_PASSWORD}@proxy.example.org:3128"


@pytest.fixture
def secret_config(data_dir, tmp_path):
    """multi-slurm.yaml plus a password, an OIDC secret and a proxy URL with a password."""
    text = (data_dir / "configs" / "multi-slurm.yaml").read_text()
    text = text.replace(
        '  cluster_name: "hpc1"\n',
        f'  cluster_name: "hpc1"\n  slurmdbd:\n    user: "agent"\n    password: "{PASSWORD}"\n',
    )
    # `offerings` is the file's last key: a fourth offering, authenticated by OIDC, goes last.
    text = (
        f'global_proxy: "{PROXY}"\n'
        + text
        + (
            "  - name: OIDC\n"
            '    waldur_api_url: "https://waldur.example.org/api/"\n'
            '    waldur_offering_uuid: "0e1d2c3b4a5948776655443322110000"\n'
            '    oidc_token_url: "https://sso.example.org/token"\n'
            '    oidc_client_id: "agent"\n'
            f'    oidc_client_secret: "{CLIENT_SECRET}"\n'
            '    backend_type: "slurm"\n'
        )
    )
    path = tmp_path / "site.yaml"
    path.write_text(text)
    return path


SECRETS = (TOKEN, PASSWORD, CLIENT_SECRET, PROXY_PASSWORD)


@pytest.mark.parametrize("fmt", ["yaml", "toml"])
def test_config_show_never_prints_a_secret(secret_config, fmt, capsys, fake_plugins):
    config = load_file(secret_config).config
    assert len(config.offerings) == 4
    assert config.offerings[0].backend_settings["slurmdbd"]["password"] == PASSWORD
    assert main(["config", "show", "-c", str(secret_config), "--format", fmt]) == EXIT_OK
    captured = capsys.readouterr()
    for secret in SECRETS:
        assert secret not in captured.out
        assert secret not in captured.err
    shown = tomllib.loads(captured.out) if fmt == "toml" else yaml.safe_load(captured.out)
    assert shown["offerings"][0]["waldur_api_token"] == MASK
    assert shown["offerings"][0]["backend_settings"]["slurmdbd"] == {
        "user": "agent",
        "password": MASK,
    }
    assert shown["offerings"][3]["oidc_client_secret"] == MASK
    assert shown["global_proxy"] == f"http://agent:{MASK}@proxy.example.org:3128"


def test_toml_output_omits_nulls_and_reloads_to_an_equal_config(
    data_dir, tmp_path, capsys, fake_plugins
):
    from waldur_site_agent_actors.config.dump import render

    path = data_dir / "configs" / "multi-slurm.yaml"
    assert main(["config", "show", "-c", str(path), "--format", "toml"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "null" not in out and "None" not in out
    assert "[log_shipping]" not in out  # all defaults: no empty table
    assert "[supervision]" in out
    document = tomllib.loads(out)
    # An unset optional key is absent, not null: the first offering sets no membership switch.
    assert "stomp_membership_sync_enabled" not in document["offerings"][0]
    assert "unit_factor_reporting" not in document["offerings"][0]["backend_components"]["cpu"]
    # Masked output re-loads once the real token is back; the unmasked render is exact.
    original = load_file(path).config
    masked = load_mapping(document).config
    assert masked.offerings[0].waldur_api_token == MASK
    unmasked = tmp_path / "again.toml"
    unmasked.write_text(render(original, "toml", reveal=True))
    assert load_file(unmasked).config == original
    for offering in document["offerings"]:
        offering["waldur_api_token"] = TOKEN
    assert load_mapping(document).config == original


def test_yaml_output_reloads_to_an_equal_config(data_dir, tmp_path, fake_plugins):
    from waldur_site_agent_actors.config.dump import render

    original = load_file(data_dir / "configs" / "seed-annotated.yaml").config
    again = tmp_path / "again.yaml"
    again.write_text(render(original, "yaml", reveal=True))
    assert load_file(again).config == original


def test_config_show_of_a_broken_file_prints_every_error(data_dir, capsys, fake_plugins):
    path = data_dir / "configs" / "broken.yaml"
    assert main(["config", "show", "-c", str(path)]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "6 error(s)" in err
    assert "warning: log_levl: unknown key (ignored)" in err
    assert TOKEN not in err


def test_validate_ok_and_strict(data_dir, capsys, fake_plugins):
    path = data_dir / "configs" / "multi-slurm.toml"
    assert main(["validate", "-c", str(path), "--strict"]) == EXIT_OK
    assert capsys.readouterr().out.strip() == f"{path}: OK (3 offerings)"
    broken = data_dir / "configs" / "broken.yaml"
    assert main(["validate", "-c", str(broken), "--strict"]) == EXIT_CONFIG
    assert "7 error(s)" in capsys.readouterr().err


def test_environment_overrides_win_over_the_file(data_dir, monkeypatch, fake_plugins):
    path = data_dir / "configs" / "multi-slurm.yaml"
    assert load_file(path).config.report_period_minutes == 15
    monkeypatch.setenv("WALDUR_SITE_AGENT_REPORT_PERIOD_MINUTES", "2.5")
    monkeypatch.setenv("WALDUR_SITE_AGENT_ORDER_PROCESS_PERIOD_MINUTES", "1")
    config = load_file(path).config
    assert config.report_period_minutes == 2.5
    assert config.order_process_period_minutes == 1
    assert config.membership_sync_period_minutes == 5  # untouched default


def test_a_bad_environment_override_is_an_error_naming_the_key(monkeypatch, fake_plugins):
    raw = {"offerings": []}
    with pytest.raises(Exception) as caught:
        load_mapping(raw, environ={"WALDUR_SITE_AGENT_REPORT_PERIOD_MINUTES": "0"})
    assert caught.value.errors[1:] == [
        "report_period_minutes (from WALDUR_SITE_AGENT_REPORT_PERIOD_MINUTES): "
        'expected a number > 0, got "0"'
    ]


def test_errors_never_echo_a_secret_value(fake_plugins):
    from waldur_site_agent_actors.config.load import ConfigError

    fake_plugins.add("waldur_site_agent.backend_settings_schemas", "slurm", "tests.fakes:Secretive")
    raw = {
        "offerings": [
            {
                "name": "o",
                "waldur_api_url": "https://waldur.example.org/api/",
                "waldur_api_token": 1234567890123,
                "waldur_offering_uuid": "u1",
                "backend_type": "slurm",
                "backend_settings": {"db_password": 987654321},
            }
        ]
    }
    with pytest.raises(ConfigError) as caught:
        load_mapping(raw)
    assert sorted(caught.value.errors) == [
        f"offerings[0].backend_settings.db_password: expected a string, got {MASK}",
        f"offerings[0].waldur_api_token: expected a string, got {MASK}",
    ]


def test_per_mode_backends_fall_back_to_backend_type(fake_plugins):
    base = {
        "name": "o",
        "waldur_api_url": "https://waldur.example.org/api/",
        "waldur_api_token": TOKEN,
        "waldur_offering_uuid": "u1",
    }
    legacy = load_mapping({"offerings": [{**base, "backend_type": "SLURM"}]}).config.offerings[0]
    assert [legacy.backend_for(r) for r in ("order", "report", "membership")] == ["slurm"] * 3
    mixed = {**base, "backend_type": "slurm", "reporting_backend": "mycustom"}
    offering = load_mapping({"offerings": [mixed]}).config.offerings[0]
    assert offering.backend_for("order") == "slurm"
    assert offering.backend_for("report") == "mycustom"
    assert offering.backend_for("membership") == "slurm"
    roles_only = {**base, "order_processing_backend": "mycustom"}
    offering = load_mapping({"offerings": [roles_only]}).config.offerings[0]
    assert offering.backend_for("order") == "mycustom"
    assert offering.backend_for("report") == ""


def test_secret_filter_masks_message_args_and_exception_text(data_dir, fake_plugins):
    config = load_file(data_dir / "configs" / "multi-slurm.yaml").config
    secrets = secret_values(config)
    assert TOKEN in secrets
    log_filter = SecretFilter(secrets)

    def record(msg, args, exc_info=None):
        return logging.LogRecord("t", logging.ERROR, __file__, 1, msg, args, exc_info)

    in_message = record(f"Authorization: Token {TOKEN}", None)
    assert log_filter.filter(in_message)
    assert in_message.getMessage() == f"Authorization: Token {MASK}"

    in_args = record("header %s for %s", (f"Token {TOKEN}", "waldur"))
    log_filter.filter(in_args)
    assert in_args.getMessage() == f"header Token {MASK} for waldur"

    try:
        raise RuntimeError(f"401 with token {TOKEN}")
    except RuntimeError:
        in_exception = record("request failed", None, sys.exc_info())
    log_filter.filter(in_exception)
    formatted = logging.Formatter().format(in_exception)
    assert TOKEN not in formatted
    assert f"401 with token {MASK}" in formatted

    harmless = record("count %d", (3,))
    log_filter.filter(harmless)
    assert harmless.getMessage() == "count 3"


def test_secret_filter_on_a_handler_covers_every_logger(caplog, data_dir, fake_plugins):
    config = load_file(data_dir / "configs" / "multi-slurm.yaml").config
    caplog.handler.addFilter(SecretFilter(secret_values(config)))
    logging.getLogger("urllib3.connectionpool").warning("GET /?token=%s", TOKEN)
    assert TOKEN not in caplog.text
    assert f"token={MASK}" in caplog.text


def test_secret_filter_masks_credentials_of_authorization_headers_in_any_encoding():
    """A library dumping its request headers (upstream's MUP client does) prints Basic auth as
    base64 of `user:password`, which no configured value matches as written."""
    basic = base64.b64encode(f"agent:{PASSWORD}".encode()).decode()
    dumped = f"Headers: {{'authorization': 'Basic {basic}', 'accept': 'application/json'}}"
    masked = SecretFilter().mask(dumped)
    assert basic not in masked
    assert masked == f"Headers: {{'authorization': 'Basic {MASK}', 'accept': 'application/json'}}"
    bearer = SecretFilter().mask("Authorization: Bearer eyJhbGci.x.y")
    assert bearer == f"Authorization: Bearer {MASK}"
