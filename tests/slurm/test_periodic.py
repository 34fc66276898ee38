"""Periodic settings (`apply_periodic_settings`): the settings, and their effect on the cluster."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler

import pytest
import yaml

from tests.loopback import LoopbackServer
from tests.slurm.conftest import COMPONENTS, resource
from tests.slurm.test_docs import example, validate
from waldur_site_agent_actors.backends.exceptions import ConfigurationError
from waldur_site_agent_actors.backends.slurm.backend import SlurmBackend
from waldur_site_agent_actors.backends.slurm.periodic import NOT_ENABLED, QOS_THRESHOLD

ENABLED = {"enabled": True, "limit_type": "GrpTRESMins"}


def share_and_limits(slurm, account: str) -> dict[str, str]:
    """Fairshare and limits of the account's own association, as `sacctmgr` shows them."""
    rows = slurm.sacctmgr(
        "show",
        "association",
        "where",
        f"account={account}",
        "format=User,Fairshare,GrpTRESMins,MaxTRESMins",
    )
    _, fairshare, grp, max_ = next(row for row in rows if not row[0])
    return {"fairshare": fairshare, "GrpTRESMins": grp, "MaxTRESMins": max_}


@pytest.fixture
def allocation(slurm, make_backend):
    """An enabled backend scoped to the test cluster, and an allocation account it made."""
    backend = make_backend(periodic_limits=ENABLED, cluster_name=slurm.cluster)
    target = resource()
    account = backend.resource_backend_id(target)
    backend.create_resource_with_id(target, account)
    return backend, account


def recording(backend: SlurmBackend) -> list[list[str]]:
    """Commands the backend runs from now on, recorded instead of run."""
    ran: list[list[str]] = []
    backend.client.execute_command = lambda argv, silent=False: ran.append(argv) or ""
    return ran


def test_upstream_settings_load_and_what_cannot_work_is_refused():
    upstream = {
        "enabled": True,
        "limit_type": "GrpTRESMins",
        "emulator_mode": False,
        "emulator_base_url": "http://localhost:8080",
        "tres_billing_enabled": True,
        "billing_weights": {"cpu": 1.0, "gpu": 10.0},
        "qos_levels": {"default": "normal", "slowdown": "slowdown"},
    }
    assert SlurmBackend({"periodic_limits": upstream}, {}).supports_periodic_settings is True
    assert SlurmBackend({}, {}).supports_periodic_settings is False
    off = SlurmBackend({"periodic_limits": {"enabled": False}}, {})
    assert off.supports_periodic_settings is False
    with pytest.raises(ConfigurationError, match="limit_type 'GrpTresMin' is not one of"):
        SlurmBackend({"periodic_limits": {"enabled": True, "limit_type": "GrpTresMin"}}, {})
    with pytest.raises(ConfigurationError, match="unknown field `enabeld`"):
        SlurmBackend({"periodic_limits": {"enabeld": True}}, {})


def test_the_agent_validates_an_upstream_config_with_emulator_mode(tmp_path):
    document = yaml.safe_load(example())
    settings = document["offerings"][0]["backend_settings"]
    settings["periodic_limits"] = {"enabled": True, "limit_type": "GrpTRESMins"}
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(document))
    checked = validate(config)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    settings["periodic_limits"].update(emulator_mode=True, emulator_base_url="http://emu:8080")
    config.write_text(yaml.safe_dump(document))
    checked = validate(config)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    settings["periodic_limits"]["emulator_base_url"] = "http://admin:secret@emu:8080"
    config.write_text(yaml.safe_dump(document))
    refused = validate(config)
    assert refused.returncode == 2
    assert "offerings[0].backend_settings.periodic_limits.emulator_base_url" in refused.stderr
    assert "secret" not in refused.stdout + refused.stderr


class Emulator(LoopbackServer):
    """A stand-in for upstream's SLURM emulator API: keeps what each POST carried; answers
    `status` (a 500 once a body with `fail` in it arrives)."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(inner) -> None:
                body = json.loads(inner.rfile.read(int(inner.headers["Content-Length"])))
                self.posts.append((inner.path, body))
                status = 500 if "fail" in json.dumps(body) else 200
                inner.send_response(status)
                inner.send_header("Content-Length", "2")
                inner.end_headers()
                inner.wfile.write(b"{}")

            def log_message(inner, *args) -> None:
                pass

        super().__init__(Handler)


@pytest.fixture
def emulator():
    server = Emulator()
    yield server
    server.close()


def test_emulator_mode_posts_each_setting_to_the_emulator(emulator):
    """Upstream's emulator mode: every setting is one POST to the emulator's API, as upstream's
    plugin sends it, and no SLURM command runs (the bin path leads nowhere)."""
    emulated = {**ENABLED, "emulator_mode": True, "emulator_base_url": emulator.url + "/"}
    backend = SlurmBackend(
        {"periodic_limits": emulated, "slurm_bin_path": "/nonexistent/bin"}, COMPONENTS
    )
    ran = recording(backend)
    settings = {
        "fairshare": 333,
        "grp_tres_mins": {"billing": 900, "cpu": 600},
        "reset_raw_usage": True,
        "grace_limit": 7,  # other keys of a message are not sent, as upstream
    }
    result = backend.apply_periodic_settings("a_emulated", settings)
    path = "/api/apply-periodic-settings"
    assert emulator.posts == [
        (path, {"resource_id": "a_emulated", "fairshare": 333}),
        (path, {"resource_id": "a_emulated", "grp_tres_mins": {"billing": 900, "cpu": 600}}),
        (path, {"resource_id": "a_emulated", "reset_raw_usage": True}),
    ]
    assert result["success"] is True, result
    assert len(result["commands_executed"]) == 3
    assert result["commands_executed"][0].startswith(f"POST {emulator.url}{path} ")
    assert ran == []

    # What the emulator refuses ends the run, and is the outcome Waldur gets.
    emulator.posts.clear()
    failed = backend.apply_periodic_settings("a_fail", {"fairshare": 5, "reset_raw_usage": True})
    assert emulator.posts == [(path, {"resource_id": "a_fail", "fairshare": 5})]
    assert failed["success"] is False and "500 Server Error" in failed["error"], failed
    assert failed["commands_executed"] == []

    # Checked before anything is sent, as without the emulator.
    bad = backend.apply_periodic_settings("a;b", {"fairshare": 5})
    assert "account name 'a;b'" in bad["error"] and len(emulator.posts) == 1


def test_emulator_mode_says_which_emulator_it_could_not_reach(emulator):
    url = emulator.url
    emulator.close()
    emulated = {**ENABLED, "emulator_mode": True, "emulator_base_url": url}
    backend = SlurmBackend({"periodic_limits": emulated}, COMPONENTS)
    result = backend.apply_periodic_settings("a_x", {"reset_raw_usage": True})
    assert result["success"] is False
    assert result["error"].startswith(f"SLURM emulator at {url}: "), result


def test_a_disabled_offering_reports_failure_and_runs_nothing():
    backend = SlurmBackend({"periodic_limits": {"enabled": False}}, COMPONENTS)
    ran = recording(backend)
    assert backend.apply_periodic_settings("a_x", {"fairshare": 5}) == {
        "success": False,
        "error": NOT_ENABLED,
        "commands_executed": [],
    }
    assert ran == []


@pytest.mark.parametrize(
    ("account", "settings", "error"),
    [
        ("a;b", {"fairshare": 5}, "account name 'a;b'"),
        ("$(id)", {"reset_raw_usage": True}, "account name '$(id)'"),
        ("a_ok", {"fairshare": -1}, "fairshare: -1 is not a non-negative whole number"),
        ("a_ok", {"fairshare": "5"}, "fairshare: '5' is not"),
        ("a_ok", {"grp_tres_mins": {"cpu": 1.5}}, "grp_tres_mins.cpu: 1.5 is not"),
        ("a_ok", {"grp_tres_mins": {"cpu": True}}, "grp_tres_mins.cpu: True is not"),
        ("a_ok", {"max_tres_mins": {"cpu": float("nan")}}, "max_tres_mins.cpu: nan is not"),
        ("a_ok", {"grp_tres_mins": [600]}, "grp_tres_mins must map TRES names"),
        ("a_ok", {"limit_type": "GrpJobs", "grp_tres_mins": {"cpu": 1}}, "limit_type 'GrpJobs'"),
    ],
)
def test_hostile_names_and_bad_values_are_refused_before_any_command(account, settings, error):
    backend = SlurmBackend({"periodic_limits": ENABLED}, COMPONENTS)
    ran = recording(backend)
    result = backend.apply_periodic_settings(account, settings)
    assert result["success"] is False
    assert error in result["error"]
    assert result["commands_executed"] == []
    assert ran == []


def test_a_failing_sacctmgr_is_reported_not_raised():
    backend = SlurmBackend(
        {"periodic_limits": ENABLED, "slurm_bin_path": "/nonexistent/bin"}, COMPONENTS
    )
    result = backend.apply_periodic_settings("a_ok", {"fairshare": 5})
    assert result["success"] is False
    assert "command not found: /nonexistent/bin/sacctmgr" in result["error"]
    assert result["commands_executed"] == []


@pytest.mark.slurm
def test_fairshare_and_tres_minutes_are_applied_once(slurm, allocation):
    backend, account = allocation
    settings = {"fairshare": 7, "grp_tres_mins": {"cpu": 600, "billing": 900.0}}
    result = backend.apply_periodic_settings(account, settings)
    scope = f"where name={account} cluster={slurm.cluster} set"
    assert result == {
        "success": True,
        "commands_executed": [
            f"{slurm.bin_path}/sacctmgr --parsable2 --noheader --immediate modify account "
            f"{scope} fairshare=7",
            f"{slurm.bin_path}/sacctmgr --parsable2 --noheader --immediate modify account "
            f"{scope} GrpTRESMins=billing=900,cpu=600",
        ],
    }
    # The allocation's mem limit, set when it was created, is kept.
    assert share_and_limits(slurm, account) == {
        "fairshare": "7",
        "GrpTRESMins": "billing=900,cpu=600,mem=80M",
        "MaxTRESMins": "",
    }

    # The same settings again: nothing to write.
    assert backend.apply_periodic_settings(account, settings) == {
        "success": True,
        "commands_executed": [],
    }
    # Only what differs is written.
    again = backend.apply_periodic_settings(
        account, {"fairshare": 7, "grp_tres_mins": {"cpu": 1200, "billing": 900}}
    )
    assert [c.rsplit(" ", 1)[-1] for c in again["commands_executed"]] == ["GrpTRESMins=cpu=1200"]
    assert share_and_limits(slurm, account)["GrpTRESMins"] == "billing=900,cpu=1200,mem=80M"


@pytest.mark.slurm
def test_max_tres_minutes_by_the_message_or_the_offering(slurm, make_backend, allocation):
    backend, account = allocation
    result = backend.apply_periodic_settings(
        account, {"limit_type": "MaxTRESMins", "max_tres_mins": {"cpu": 60}}
    )
    assert result["success"] is True
    assert result["commands_executed"][0].endswith(" set MaxTRESMins=cpu=60")
    assert share_and_limits(slurm, account)["MaxTRESMins"] == "cpu=60"
    assert share_and_limits(slurm, account)["GrpTRESMins"] == "cpu=10,mem=80M"  # untouched

    per_job = make_backend(periodic_limits={"enabled": True, "limit_type": "MaxTRESMins"})
    result = per_job.apply_periodic_settings(account, {"max_tres_mins": {"cpu": 90}})
    assert result["success"] is True
    assert share_and_limits(slurm, account)["MaxTRESMins"] == "cpu=90"


@pytest.mark.slurm
def test_raw_usage_reset_runs_every_time_it_is_asked_for(slurm, allocation):
    backend, account = allocation
    for _ in range(2):
        result = backend.apply_periodic_settings(account, {"reset_raw_usage": True})
        assert result["success"] is True
        (command,) = result["commands_executed"]
        assert command.endswith(f"where name={account} cluster={slurm.cluster} set RawUsage=0")
    assert backend.apply_periodic_settings(account, {"reset_raw_usage": False}) == {
        "success": True,
        "commands_executed": [],
    }


@pytest.mark.slurm
def test_unknown_tres_and_missing_accounts_are_refused_without_writes(slurm, allocation, run_id):
    backend, account = allocation
    result = backend.apply_periodic_settings(account, {"fairshare": 9, "grp_tres_mins": {"gpu": 5}})
    assert result["success"] is False
    assert "TRES gpu not on the cluster" in result["error"]
    assert "gres/gpu" in result["error"]  # the names it knows
    assert result["commands_executed"] == []
    assert share_and_limits(slurm, account)["fairshare"] == "1"

    missing = backend.apply_periodic_settings(f"a{run_id}_nothing", {"fairshare": 9})
    assert missing == {
        "success": False,
        "error": f"account 'a{run_id}_nothing' does not exist",
        "commands_executed": [],
    }


@pytest.mark.slurm
def test_qos_threshold_is_reported_as_unsupported_after_the_rest(slurm, allocation):
    backend, account = allocation
    result = backend.apply_periodic_settings(
        account, {"fairshare": 3, "qos_threshold": {"billing": 1000}}
    )
    assert result["success"] is False
    assert result["error"] == QOS_THRESHOLD
    assert [c.rsplit(" ", 1)[-1] for c in result["commands_executed"]] == ["fairshare=3"]
    assert share_and_limits(slurm, account)["fairshare"] == "3"
