"""`execution_mode: rest`: versions, tokens and what only REST mode has, against real slurmrestd.

Slurm 24.11 (`slurm_next`, data parsers v0.0.40-v0.0.42) does the work; Debian 12's Slurm 22.05
(`slurm`, v0.0.36-v0.0.38) must be refused with the reason. The scenarios both modes share are
in test_backend.py and test_agent.py, parametrized over the mode.
"""

from __future__ import annotations

import logging

import msgspec
import pytest

from tests.slurm.conftest import resource
from waldur_site_agent_actors.backends.exceptions import BackendError, ConfigurationError
from waldur_site_agent_actors.backends.slurm.rest import pick_version
from waldur_site_agent_actors.backends.slurm.settings import SlurmSettings

pytestmark = pytest.mark.slurm


def rest_settings(cluster, **rest_api):
    return {
        "execution_mode": "rest",
        "rest_api": cluster.rest_api(**rest_api),
        "cluster_name": cluster.cluster,
        "slurm_bin_path": cluster.bin_path,
    }


@pytest.fixture
def mode() -> str:
    """Every backend `make_backend` makes here is in REST mode, on `slurm_next`."""
    return "rest"


@pytest.fixture
def rest_backend(mode, slurm_next, make_backend):
    def make(periodic: bool = False, **rest_api):
        extra = {"periodic_limits": {"enabled": True}} if periodic else {}
        return make_backend(rest_api=slurm_next.rest_api(**rest_api), **extra)

    return make


def round_trip(cluster, backend) -> str:
    """Create an allocation with limits and a user, change both, remove it: one of each call."""
    target = resource(slug=f"rt-{backend.client.version_in_use.replace('.', '')}")
    account = backend.resource_backend_id(target)
    backend.create_resource_with_id(target, account)
    assert cluster.account(account)["GrpTRESMins"] == "cpu=10,mem=80M"
    backend.set_resource_limits(account, {"cpu": 300})
    assert cluster.account(account)["GrpTRESMins"] == "cpu=30,mem=80M"
    assert backend.add_user(account, "root") is True
    assert backend.add_user(account, "root") is False
    assert cluster.users(account) == {"root"}
    assert backend.pause_resource(account) is True
    assert cluster.account(account)["qos"] == "waldur-paused"
    backend.delete_resource(target.with_backend_id(account))
    assert cluster.account(account) is None
    return account


def test_the_newest_offered_version_is_spoken_and_each_offered_one_works(slurm_next, rest_backend):
    newest = rest_backend()
    assert newest.client.version_in_use == "v0.0.42"
    assert newest.client.offered == ["v0.0.40", "v0.0.41", "v0.0.42"]
    assert "Slurm 24.11" in newest.client.version()
    for version in newest.client.offered:
        pinned = rest_backend(api_version=version)
        round_trip(slurm_next, pinned)
        assert pinned.client.version_in_use == version


def test_a_version_the_server_does_not_offer_is_refused_at_start_and_in_diagnostics(
    rest_backend, caplog
):
    upstream_default = rest_backend(api_version="v0.0.43")
    assert upstream_default.ping() is False
    with pytest.raises(ConfigurationError, match=r"v0\.0\.43 is not offered .*v0\.0\.42"):
        upstream_default.ping(raise_exception=True)
    with caplog.at_level(logging.ERROR):
        assert upstream_default.diagnostics() is False
    assert "offers v0.0.40, v0.0.41, v0.0.42" in caplog.text


def test_debian_12_slurmrestd_is_refused_with_the_reason(slurm, make_backend, caplog):
    """Slurm 22.05's data parsers drop a new account's parent and account changes."""
    backend = make_backend(**rest_settings(slurm))
    with pytest.raises(ConfigurationError) as refused:
        backend.ping(raise_exception=True)
    assert "offers v0.0.36, v0.0.37, v0.0.38" in str(refused.value)
    assert "ignore a new account's parent" in str(refused.value)
    with caplog.at_level(logging.ERROR):
        assert backend.diagnostics() is False
    assert "use execution_mode: cli" in caplog.text
    pinned = make_backend(**rest_settings(slurm, api_version="v0.0.38"))
    with pytest.raises(ConfigurationError, match=r"v0\.0\.38: Slurm 22\.05's"):
        pinned.ping(raise_exception=True)


def test_version_choice_without_a_server():
    assert pick_version(["v0.0.40", "v0.0.42", "v0.0.41"], None) == "v0.0.42"
    assert pick_version(["v0.0.41", "v0.0.44"], "v0.0.41") == "v0.0.41"
    with pytest.raises(ConfigurationError, match="has no call creating an account"):
        pick_version(["v0.0.39"], None)


def test_the_unix_socket_and_a_token_from_the_environment(slurm_next, rest_backend, monkeypatch):
    socket = rest_backend(url=f"unix://{slurm_next.rest_socket}")
    round_trip(slurm_next, socket)
    with open(slurm_next.rest_token_file) as handle:
        monkeypatch.setenv("WALDUR_TEST_JWT", handle.read().strip())
    from_env = rest_backend(token_file=None, token_env="WALDUR_TEST_JWT")
    assert from_env.ping(raise_exception=True) is True


def test_a_bad_or_missing_token_fails_clearly_without_showing_it(
    slurm_next, rest_backend, tmp_path
):
    token = tmp_path / "token"
    token.write_text("SLURM_JWT=not-a-valid-token\n")
    bad = rest_backend(token_file=str(token))
    with pytest.raises(BackendError) as failed:
        bad.client.clusters()
    assert "authentication error" in str(failed.value)
    assert "not-a-valid-token" not in str(failed.value)
    # A rotated token is read again when the old one is refused, without a restart.
    with open(slurm_next.rest_token_file) as handle:
        token.write_text(handle.read())
    assert slurm_next.cluster in bad.client.clusters()
    missing = rest_backend(token_file=str(tmp_path / "nowhere"))
    with pytest.raises(BackendError, match=r"cannot read rest_api\.token_file"):
        missing.ping(raise_exception=True)


def test_periodic_settings_through_slurmrestd(slurm_next, rest_backend):
    backend = rest_backend(periodic=True)
    target = resource()
    account = backend.resource_backend_id(target)
    backend.create_resource_with_id(target, account)
    result = backend.apply_periodic_settings(
        account, {"fairshare": 7, "grp_tres_mins": {"cpu": 600, "billing": 900}}
    )
    assert result["success"] is True, result
    assert [c.split(" ")[:2] for c in result["commands_executed"]] == [
        ["POST", "/slurmdb/v0.0.42/associations/"]
    ] * 2
    rows = slurm_next.sacctmgr(
        "show", "association", "where", f"account={account}", "format=User,Fairshare,GrpTRESMins"
    )
    assert ["", "7", "billing=900,cpu=600,mem=80M"] in rows
    reset = backend.apply_periodic_settings(account, {"reset_raw_usage": True})
    assert reset["success"] is True
    assert reset["commands_executed"][0].endswith("set RawUsage=0")  # sacctmgr: no REST call


def test_rest_mode_settings_are_checked_when_the_config_loads():
    def convert(settings):
        return msgspec.convert(settings, SlurmSettings)

    token = {"url": "http://127.0.0.1:6820", "username": "slurm", "token_file": "/t"}
    with pytest.raises(msgspec.ValidationError, match="needs rest_api"):
        convert({"execution_mode": "rest", "cluster_name": "c"})
    with pytest.raises(msgspec.ValidationError, match="needs cluster_name"):
        convert({"execution_mode": "rest", "rest_api": token})
    with pytest.raises(msgspec.ValidationError, match="token_file or token_env"):
        convert({"rest_api": {"url": "http://h:1", "username": "u"}})
    with pytest.raises(msgspec.ValidationError, match="must start with"):
        convert({"rest_api": {**token, "url": "ftp://h"}})
    with pytest.raises(msgspec.ValidationError, match="api_version"):
        convert({"rest_api": {**token, "api_version": "0.0.42; rm -rf /"}})
    with pytest.raises(msgspec.ValidationError, match="execution_mode"):
        convert({"execution_mode": "emulator"})
    upstream = {
        "execution_mode": "rest",
        "cluster_name": "mycluster",
        "rest_api": {
            "url": "unix:///run/slurmrestd/slurmrestd.sock",
            "api_version": "v0.0.43",
            "username": "waldur-agent",
            "token_file": "/etc/waldur/slurmrestd.token",
        },
    }
    assert convert(upstream).rest_api.api_version == "v0.0.43"
