"""The rule: every config key, upstream 1.0.7's and ours, has one status in config/keys.py, and
none is accepted and ignored. A key works (its test exists), or is refused by name while on."""

import copy
import types
import typing
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from waldur_site_agent_actors.backends.croit_s3.settings import CroitS3Component, CroitS3Settings
from waldur_site_agent_actors.backends.demo.backend import DemoSettings
from waldur_site_agent_actors.backends.moab.backend import MoabSettings
from waldur_site_agent_actors.backends.mup.settings import MupComponent, MupSettings
from waldur_site_agent_actors.backends.slurm.settings import SlurmComponent, SlurmSettings
from waldur_site_agent_actors.backends.waldur.settings import WaldurComponent, WaldurSettings
from waldur_site_agent_actors.config import ConfigError, keys, load_file, load_mapping, plugins
from waldur_site_agent_actors.config import model as config_model

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
EVERY_KEY = DATA / "configs" / "upstream-every-key.yaml"

STRUCTS: dict[str, type[msgspec.Struct]] = {
    "root": config_model.AgentConfig,
    "offering": config_model.Offering,
    "component": config_model.Component,
    "backend_settings": config_model.BackendSettings,
    "slurm": SlurmSettings,
    "slurm component": SlurmComponent,
    "moab": MoabSettings,
    "mup": MupSettings,
    "mup component": MupComponent,
    "waldur": WaldurSettings,
    "waldur component": WaldurComponent,
    "ceph_s3": CroitS3Settings,
    "ceph_s3 component": CroitS3Component,
    "demo": DemoSettings,
}
NOT_KEYS = {"extra"}  # Component.extra holds the plugins' keys; it is not a key itself


def fields(cls: type[msgspec.Struct], prefix: str = "") -> list[str]:
    """Dotted names of a Struct's fields; a nested Struct's fields instead of the Struct."""
    names = []
    for field in msgspec.structs.fields(cls):
        if field.name in NOT_KEYS:
            continue
        optional = typing.get_origin(field.type) in (typing.Union, types.UnionType)
        nested = [
            t
            for t in (typing.get_args(field.type) if optional else (field.type,))
            if isinstance(t, type) and issubclass(t, msgspec.Struct)
        ]
        if nested:
            names += fields(nested[0], f"{prefix}{field.name}.")
        else:
            names.append(f"{prefix}{field.name}")
    return names


def upstream_keys() -> list[tuple[str, str]]:
    pairs = []
    for line in (DATA / "upstream-1.0.7-keys.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            scope, _, key = line.rpartition(" ")
            pairs.append((scope, key))
    return pairs


def covered(scope: str, key: str) -> keys.Status | None:
    """The key's status, that of a refused or inert key it sits inside, or, for a block of
    settings (`qos_management`), that of the first key inside it."""
    inside = [k for k in keys.KEYS.get(scope, {}) if k.startswith(f"{key}.")]
    if inside:
        return keys.status(scope, inside[0])
    parts = key.split(".")
    for end in range(len(parts), 0, -1):
        found = keys.status(scope, ".".join(parts[:end]))
        if found is not None and (
            end == len(parts) or isinstance(found, keys.Refused | keys.Inert)
        ):
            return found
    return None


@pytest.mark.parametrize("scope", list(STRUCTS))
def test_every_field_of_every_config_struct_has_a_status(scope):
    missing = [key for key in fields(STRUCTS[scope]) if covered(scope, key) is None]
    assert missing == [], f"give these keys a line in config/keys.py KEYS[{scope!r}]"


def test_every_settings_schema_this_agent_installs_has_a_scope():
    ours = {
        name
        for name, candidates in plugins.installed(plugins.SETTINGS_SCHEMAS).items()
        if any(c.provides(plugins.OWN_DISTRIBUTION) for c in candidates)
    }
    assert ours and all(keys.plugin_scope(name) for name in ours)


def test_every_upstream_key_has_a_status():
    missing = [f"{scope} {key}" for scope, key in upstream_keys() if covered(scope, key) is None]
    assert missing == []


def test_every_line_is_a_field_and_only_ours_are_not_upstreams():
    upstream = set(upstream_keys())
    shared = {key for scope, key in upstream if scope == "backend_settings"}
    upstream_plugins = {scope for scope, _ in upstream} & keys.PLUGIN_SCOPES
    for scope, entries in keys.KEYS.items():
        leaves = fields(STRUCTS[scope]) if scope in STRUCTS else list(entries)
        # A line may also name a whole block of settings (`homedir_quota`).
        known = set(leaves) | {leaf.rpartition(".")[0] for leaf in leaves if "." in leaf}
        assert set(entries) <= known, f"{scope}: lines for keys no Struct has"
        for key, status in entries.items():
            is_upstream = (scope, key) in upstream or (scope in upstream_plugins and key in shared)
            assert is_upstream != isinstance(status, keys.Ours), f"{scope} {key}"


def test_named_tests_and_places_exist():
    for scope, entries in keys.KEYS.items():
        for key, status in entries.items():
            if isinstance(status, keys.Works):
                path, _, name = status.test.partition("::")
                assert f"def {name}(" in (ROOT / path).read_text(), f"{scope} {key}: {status}"
            elif isinstance(status, keys.With):
                other_scope, _, other = status.key.rpartition(" ")
                assert keys.status(other_scope or scope, other) is not None, f"{scope} {key}"


def test_the_upstream_style_config_loads_strictly_and_holds_every_upstream_key():
    loaded = load_file(EVERY_KEY, strict=True)
    assert loaded.warnings == []
    raw = yaml.safe_load(EVERY_KEY.read_text())
    present: set[tuple[str, str]] = set(flat("root", raw))
    for offering in raw["offerings"]:
        present |= set(flat("offering", offering))
        scope = keys.plugin_scope(offering["backend_type"])
        for key in offering.get("backend_settings", {}):
            present |= {(scope, key), ("backend_settings", key)}
        present |= {(scope, k) for _, k in flat(scope, offering.get("backend_settings", {}))}
        for component in offering.get("backend_components", {}).values():
            present |= {("component", k) for k in component}
            present |= {(f"{scope} component", k) for k in component}
    absent = [
        f"{scope} {key}"
        for scope, key in upstream_keys()
        if scope != "plugin_options"
        and (scope, key) not in present
        and not inside_a_refused_key(scope, key)
    ]
    assert absent == []


def flat(scope: str, mapping: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    found = []
    for key, value in mapping.items():
        found.append((scope, f"{prefix}{key}"))
        if isinstance(value, dict):
            found += flat(scope, value, f"{prefix}{key}.")
    return found


def inside_a_refused_key(scope: str, key: str) -> bool:
    return "." in key and isinstance(covered(scope, key), keys.Refused | keys.Inert)


def on_values() -> list[tuple[str, str, Any]]:
    document = yaml.safe_load((DATA / "upstream-on-values.yaml").read_text())
    return [
        (scope, key, value) for scope, pairs in document.items() for key, value in pairs.items()
    ]


def test_every_refused_key_has_an_on_value_and_only_those():
    refused = {
        (scope, key)
        for scope, entries in keys.KEYS.items()
        for key, status in entries.items()
        if isinstance(status, keys.Refused)
    }
    assert {(scope, key) for scope, key, _ in on_values()} == refused


def place(document: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        document = document.setdefault(part, {})
    document[last] = value


PLUGIN_OFFERINGS = {"slurm": 0, "moab": 2, "mup": 3, "waldur": 4, "ceph_s3": 5}


def turned_on(scope: str, key: str, value: Any, plugin: str = "slurm") -> tuple[dict, str]:
    """The every-key document with one key turned on, and the path its error must name."""
    document = yaml.safe_load(EVERY_KEY.read_text())
    if scope == "root":
        place(document, key, value)
        return document, key
    owner = scope.split(" ")[0]
    index = PLUGIN_OFFERINGS.get(owner, PLUGIN_OFFERINGS[plugin])
    offering = document["offerings"][index] = copy.deepcopy(document["offerings"][index])
    path = f"offerings[{index}]"
    if scope == "offering":
        place(offering, key, value)
        return document, f"{path}.{key}"
    if scope.endswith("component"):
        name = next(iter(offering["backend_components"]))
        place(offering["backend_components"][name], key, value)
        return document, f"{path}.backend_components.{name}.{key}"
    offering["backend_settings"] = copy.deepcopy(offering.get("backend_settings", {}))
    place(offering["backend_settings"], key, value)
    return document, f"{path}.backend_settings.{key}"


CASES = [
    pytest.param(scope, key, value, plugin, False, id=f"{plugin or scope}-{key}")
    for scope, key, value in on_values()
    if scope != "plugin_options"
    for plugin in (list(PLUGIN_OFFERINGS) if scope == "backend_settings" else [None])
    # A plugin that implements a key every backend shares does not refuse it.
    if plugin is None or isinstance(keys.status(plugin, key), keys.Refused)
]
# Every upstream key works today; the rule's other side is kept honest with a key marked refused
# for the test, so the next key a release of upstream adds can be refused before it is built.
MARKED = pytest.param(
    "slurm", "periodic_limits.emulator_mode", True, None, True, id="marked-refused"
)


@pytest.mark.parametrize(("scope", "key", "value", "plugin", "mark"), [*CASES, MARKED])
def test_an_upstream_key_turned_on_is_refused_by_name(scope, key, value, plugin, mark, monkeypatch):
    if mark:
        reason = keys.refused("marked so for this test")
        monkeypatch.setitem(keys.KEYS[scope], key, reason)
        assert load_file(EVERY_KEY, strict=True).warnings == []  # off there: it loads
    document, path = turned_on(scope, key, value, plugin or "slurm")
    with pytest.raises(ConfigError) as caught:
        load_mapping(document, strict=True)
    (error,) = caught.value.errors
    assert error.startswith(f"{path}: "), error
    assert "is not supported by this agent yet (" in error
    assert ("remove it" in error) or ('"usage" or "limit"' in error)
    assert "rgw-admin-secret-key-value" not in error  # a secret's value is never shown
