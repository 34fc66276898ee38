"""SLURM plugin pieces that need no cluster: names, sacct parsing, windows, settings."""

from datetime import datetime
from zoneinfo import ZoneInfo

import msgspec
import pytest

from tests.slurm.conftest import COMPONENTS, resource, settings
from waldur_site_agent_actors.backends import units
from waldur_site_agent_actors.backends.component_mapping import TargetComponent
from waldur_site_agent_actors.backends.exceptions import ConfigurationError, InvalidNameError
from waldur_site_agent_actors.backends.slurm import naming, usage
from waldur_site_agent_actors.backends.slurm.backend import SlurmBackend
from waldur_site_agent_actors.backends.slurm.client import _chunks
from waldur_site_agent_actors.backends.slurm.settings import SlurmComponent
from waldur_site_agent_actors.backends.structures import TOTAL_ACCOUNT_USAGE

HOSTILE = ["a;b", "$(id)", "x" * 200, "ünïcödé", "a b", "-rf", "name=root", "a\nb", "`id`", ""]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_are_refused(name):
    with pytest.raises(InvalidNameError):
        naming.account(name)
    with pytest.raises(InvalidNameError):
        naming.user(name)


def test_names_are_lowercased_and_kept_otherwise():
    assert naming.account("Proj_1.A-b") == "proj_1.a-b"
    assert naming.user("Alice.Smith") == "alice.smith"
    assert naming.derived_account("alloc_", "My-Run", "allocation") == "alloc_my-run"


def test_a_missing_slug_is_an_error_not_an_empty_name():
    with pytest.raises(Exception, match="no slug"):
        naming.derived_account("p_", "", "project account")


def test_collision_candidates_stay_within_the_length_limit():
    base = "a" * naming.ACCOUNT_MAX
    names = naming.candidates(base, 12)
    assert names[0] == base and names[1].endswith("-2") and names[11].endswith("-12")
    assert all(len(n) <= naming.ACCOUNT_MAX for n in names)
    assert len(set(names)) == 12


def test_descriptions_lose_quotes_and_newlines():
    assert naming.description("a \"b\" 'c'\n`d`\t e") == "a b c d e"
    assert len(naming.description("x" * 500)) == naming.DESCRIPTION_MAX


def test_tres_strings_in_slurm_units():
    assert usage.parse_tres("billing=2,cpu=2,gres/gpu=1,mem=512M,node=1") == {
        "billing": 2,
        "cpu": 2,
        "gres/gpu": 1,
        "mem": 512,
        "node": 1,
    }
    assert usage.parse_tres("mem=2G") == {"mem": 2048}
    assert usage.parse_tres("mem=1T,cpu=1K") == {"mem": 1024 * 1024, "cpu": 1024}
    assert usage.parse_tres("") == {}


def test_sacct_lines_become_tres_minutes_per_account_and_user():
    output = (
        "acc1|alice|billing=4,cpu=4,gres/gpu=2,mem=1024M,node=1|60\n"
        "acc1|bob|cpu=2,mem=512M|30\n"
        "ACC1|Alice|cpu=1|120\n"
        "other|carol|cpu=8|600\n"
        "acc2|dave||0\n"
        "garbage line\n"
    )
    jobs = usage.parse_lines(output)
    minutes = usage.tres_minutes(
        jobs, {"cpu": "cpu", "mem": "mem", "gpu": "gres/gpu"}, {"acc1", "acc2"}
    )
    assert minutes == {
        "acc1": {
            "alice": {"cpu": 4 + 2, "mem": 1024, "gpu": 2},
            "bob": {"cpu": 1, "mem": 256},
        }
    }
    factors = {"cpu": 0.5, "mem": 1024, "gpu": 1}
    report = usage.report(
        minutes,
        lambda m: {c: float(units.usage_to_waldur(m.get(c, 0.0), f)) for c, f in factors.items()},
    )
    assert report["acc1"]["alice"] == {"cpu": 12, "mem": 1, "gpu": 2}
    assert report["acc1"]["bob"] == {"cpu": 2, "mem": 0, "gpu": 0}
    # The total is converted from summed backend amounts: 1280 MB-min is 1.25 GB-min -> 1.
    assert report["acc1"][TOTAL_ACCOUNT_USAGE] == {"cpu": 14, "mem": 1, "gpu": 2}


def test_month_windows_meet_exactly_across_a_boundary():
    _, november_end = usage.month_window(2026, 11, "Europe/Tallinn")
    december_start, december_end = usage.month_window(2026, 12, "Europe/Tallinn")
    assert november_end == december_start
    _, january_next = usage.month_window(2027, 1, "Europe/Tallinn")
    assert december_end == usage.month_window(2027, 1, "Europe/Tallinn")[0]
    assert january_next != december_end
    # Midnight in Tallinn, written in the host's local time for sacct.
    start = datetime(2026, 12, 1, tzinfo=ZoneInfo("Europe/Tallinn")).astimezone()
    assert december_start == start.strftime("%Y-%m-%dT%H:%M:%S")


def test_account_lists_are_split_only_past_the_argv_limit():
    names = [f"account_{i:05d}" for i in range(5000)]
    assert len(list(_chunks(names, 100_000))) == 1
    chunks = list(_chunks(names, 10_000))
    assert sum(len(c) for c in chunks) == 5000
    assert all(len(",".join(c)) <= 10_000 for c in chunks)


def test_bad_settings_fail_at_construction():
    with pytest.raises(ConfigurationError, match="qos_paused"):
        SlurmBackend({"qos_paused": "p;aused"}, {})
    with pytest.raises(ConfigurationError, match="default_account"):
        SlurmBackend({"default_account": "$(id)"}, {})
    with pytest.raises(ConfigurationError, match="limit_type"):
        SlurmBackend(
            {},
            {"cpu": {"accounting_type": "limit", "unit_factor": 1, "limit_type": "Bogus"}},
        )


def test_components_map_onto_tres_and_limit_types():
    backend = SlurmBackend(
        {"limit_type": "GrpTRESMins"},
        {
            "cpu": {"accounting_type": "limit"},
            "gpu": {"accounting_type": "usage"},
            "ram": {"accounting_type": "limit", "limit_type": "GrpTRES"},
            "nodes": {"accounting_type": "limit", "tres": "node", "limit_type": "GrpTRES"},
        },
    )
    mapped = {k: (v.tres, v.limit_type) for k, v in backend.components.items()}
    assert mapped == {
        "cpu": ("cpu", "GrpTRESMins"),
        "gpu": ("gres/gpu", "GrpTRESMins"),
        "ram": ("mem", "GrpTRES"),
        "nodes": ("node", "GrpTRES"),
    }


@pytest.mark.parametrize("bad", ["a;b", "$(id)", "x" * 200, "ünïcödé"])
def test_hostile_input_is_refused_before_any_command_runs(bad):
    backend = SlurmBackend(settings("t1"), COMPONENTS)
    ran = []
    backend.client.execute_command = lambda argv, silent=False: ran.append(argv) or ""
    with pytest.raises(InvalidNameError):
        backend.resource_backend_id(resource(slug=bad))
    with pytest.raises(InvalidNameError):
        backend.create_resource_with_id(resource(project=bad), "at1_ok")
    with pytest.raises(InvalidNameError):
        backend.create_resource_with_id(resource(customer=bad), "at1_ok")
    with pytest.raises(InvalidNameError):
        backend.create_resource_with_id(resource(), bad)
    with pytest.raises(InvalidNameError):
        backend.add_user("at1_ok", bad)
    assert backend.add_users_to_resource("at1_ok", {bad}) == set()
    with pytest.raises(InvalidNameError):
        backend.remove_user("at1_ok", bad)
    for action in (backend.pause_resource, backend.restore_resource, backend.get_resource_limits):
        with pytest.raises(InvalidNameError):
            action(bad)
    with pytest.raises(InvalidNameError):
        backend.set_resource_user_limits("at1_ok", bad, {"cpu": 1})
    with pytest.raises(InvalidNameError):
        backend.delete_resource(resource(backend_id=bad))
    assert backend.get_usage_report([bad]) == {
        bad: {TOTAL_ACCOUNT_USAGE: dict.fromkeys(COMPONENTS, 0.0)}
    }
    assert ran == []


FEATURES = {
    "qos_management": {"enabled": True, "additional_qos": ["waldur-extra"]},
    "qos_enforcement_enabled": True,
    "enforce_offering_qos": True,
    "qos_paused": None,
    "qos_downscaled": None,
    "project_directory": {
        "enabled": True,
        "base_path": "/srv/projects",
        "lustre_quota": {"mount_point": "/lustre", "block_hardlimit": 1024},
    },
    "create_homedirs": True,
    "homedir_base_path": "/srv/home",
    "homedir_quota": {"provider": "lustre", "mount_point": "/lustre", "block_hardlimit": "1g"},
}


@pytest.mark.parametrize("bad", ["a;b", "$(id)", "x" * 200, "ünïcödé", "-rf", "../../etc"])
def test_hostile_input_never_reaches_the_feature_command_lines(bad):
    """With every feature that adds a command line on (the allocation's QoS, the order's QoS
    and partition, project directories with Lustre quotas, home directories with quotas), a
    hostile name from Waldur is refused before any of them runs."""
    backend = SlurmBackend(settings("t1", **FEATURES), COMPONENTS)
    ran = []
    backend.client.execute_command = lambda argv, silent=False: ran.append(argv) or ""
    with pytest.raises(InvalidNameError):
        backend.create_resource_with_id(resource(), bad)
    for chosen in ({"qos": bad}, {"partition": bad}):
        with pytest.raises(InvalidNameError):
            backend.create_resource_with_id(resource(attributes=chosen), "at1_ok")
        with pytest.raises(InvalidNameError):
            backend.add_user("at1_ok", "root", resource_attributes=chosen)
    with pytest.raises(InvalidNameError):
        backend.add_user("at1_ok", bad)
    assert backend.create_user_homedirs({bad}) == []
    assert ran == []


NODE_HOURS = {
    "accounting_type": "limit",
    "unit_factor": 1,
    "target_components": {"cpu": {"factor": 64.0}, "gpu": {"factor": 8.0}},
}


def test_target_components_put_one_component_on_several_tres():
    backend = SlurmBackend(
        {"create_homedirs": False},
        {"node_hours": NODE_HOURS, "mem": {"accounting_type": "usage", "unit_factor": 16}},
    )
    mapped = {k: (v.tres, v.limit_type) for k, v in backend.components.items()}
    assert mapped == {
        "cpu": ("cpu", "GrpTRESMins"),
        "gpu": ("gres/gpu", "GrpTRESMins"),
        "mem": ("mem", "GrpTRESMins"),
    }
    # Upstream's CI numbers: 10000 node-hours are 640000 CPU and 80000 GPU units.
    assert backend.mapper.limits_to_target({"node_hours": 10000, "mem": 5}) == {
        "cpu": 640000,
        "gpu": 80000,
        "mem": 80,
    }
    assert backend._usage_to_waldur({"cpu": 6400, "gpu": 800, "mem": 32}) == {
        "node_hours": 200.0,
        "mem": 2.0,
    }


@pytest.mark.parametrize(
    ("components", "message"),
    [
        ({"n": {**NODE_HOURS, "unit_factor": 60}}, "unit_factor must be 1 with target_"),
        ({"n": {**NODE_HOURS, "tres": "cpu"}}, "tres and target_components exclude"),
        ({"n": {**NODE_HOURS, "target_components": {"cpu;id": {}}}}, "'n'.*regex"),
        ({"n": {**NODE_HOURS, "target_components": {"cpu": {"factor": 0}}}}, "> 0"),
        (
            {"n": NODE_HOURS, "cpu": {"accounting_type": "limit", "limit_type": "GrpTRES"}},
            "cpu would be GrpTRES cpu here and GrpTRESMins cpu",
        ),
        (
            {"n": {**NODE_HOURS, "target_components": {"gpu": {}, "gres/gpu": {}}}},
            "one TRES in two ways: GrpTRESMins gres/gpu",
        ),
    ],
)
def test_target_components_that_cannot_work_are_refused(components, message):
    with pytest.raises(ConfigurationError, match=message):
        SlurmBackend({}, components)


def test_target_components_are_checked_when_the_config_loads():
    with pytest.raises(msgspec.ValidationError, match="regex"):
        msgspec.convert({"target_components": {"cpu,x=1": {}}}, SlurmComponent)
    with pytest.raises(msgspec.ValidationError, match="exclude each other"):
        msgspec.convert({"target_components": {"cpu": {}}, "tres": "cpu"}, SlurmComponent)
    parsed = msgspec.convert(NODE_HOURS["target_components"], dict[str, TargetComponent])
    assert parsed["gpu"].factor == 8.0


def limits_taken(backend: SlurmBackend, held: dict[str, int], limits: dict[str, float]) -> object:
    """What `waldur_updates` takes into Waldur when SLURM holds `held` (TRES units)."""
    backend._current_limits = lambda account: held  # type: ignore[method-assign]
    return backend.waldur_updates(resource(backend_id="a_1", limits=limits)).limits


def test_limits_read_back_through_target_components_and_their_rounding():
    halves = {"accounting_type": "limit", "target_components": {"cpu": {"factor": 1.5}}}
    backend = SlurmBackend({"create_homedirs": False}, {"node_hours": NODE_HOURS, "n": halves})
    # 3 x 1.5 = 4.5 is written as 5, which reads back as 3.33: no change.
    assert limits_taken(backend, {"cpu": 5}, {"n": 3}) is msgspec.UNSET
    backend = SlurmBackend({"create_homedirs": False}, {"node_hours": NODE_HOURS})
    assert limits_taken(backend, {"cpu": 640, "gpu": 80}, {"node_hours": 10}) is msgspec.UNSET
    # The scarcest TRES grants what the component has.
    assert limits_taken(backend, {"cpu": 1280, "gpu": 80}, {"node_hours": 10}) is msgspec.UNSET
    assert limits_taken(backend, {"cpu": 1280, "gpu": 160}, {"node_hours": 10}) == {
        "node_hours": 20.0
    }


def test_prepaid_budgets_and_periodic_policy_limits_stay_waldurs():
    prepaid = {"accounting_type": "one", "unit_factor": 1}
    components = {"cpu": prepaid, "mem": {"accounting_type": "limit", "unit_factor": 16}}
    backend = SlurmBackend({"create_homedirs": False}, components)
    # A year of 100 a month is a budget of 1200: not Waldur's limit of 100.
    assert limits_taken(backend, {"cpu": 1200, "mem": 160}, {"cpu": 100, "mem": 5}) == {
        "cpu": 100,
        "mem": 10.0,
    }
    periodic = SlurmBackend(
        {"create_homedirs": False, "periodic_limits": {"enabled": True}}, components
    )
    assert limits_taken(periodic, {"cpu": 1200, "mem": 160}, {"cpu": 100, "mem": 5}) is (
        msgspec.UNSET
    )
