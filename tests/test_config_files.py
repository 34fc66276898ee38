"""Config files as a user meets them: every way a file can be unusable is one clear message and
exit 2, with no traceback, in bounded time and memory; `config show` and `diagnostics` too."""

import os
import pwd
import resource
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from waldur_site_agent_actors.agent.cli import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, main
from waldur_site_agent_actors.config.load import MAX_DEPTH, MAX_VALUES

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "0123456789abcdef0123456789abcdef01234567"
GOOD = f"""\
offerings:
  - name: HPC
    waldur_api_url: "https://waldur.example.org/api/"
    waldur_api_token: "{TOKEN}"
    waldur_offering_uuid: "d629d5e45567425da9cdbdc1af67b32c"
    backend_type: demo
    backend_components:
      cpu: {{accounting_type: usage, measured_unit: k-Hours, label: CPU, unit_factor: 60000}}
"""


def agent(*args: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI in a process of its own, at most 1 GiB of address space: a file that blew up
    memory or looped would fail here, not pass slowly. `user`: run as that user (needs root)."""

    def limits() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    prefix = []
    if user:
        who = pwd.getpwnam(user)
        prefix = ["setpriv", f"--reuid={who.pw_uid}", f"--regid={who.pw_gid}", "--clear-groups"]
    return subprocess.run(
        [*prefix, sys.executable, "-m", "waldur_site_agent_actors.agent.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        preexec_fn=limits,
    )


def refused(result: subprocess.CompletedProcess[str], message: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == EXIT_CONFIG, output
    assert message in output, output
    assert "Traceback" not in output, output
    assert "<unicode string>" not in output, output


def test_a_directory(tmp_path):
    refused(
        agent("validate", "-c", str(tmp_path)), f"{tmp_path}: is a directory, not a config file"
    )


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)")
def test_a_file_another_user_may_not_read(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(GOOD)
    path.chmod(0o600)  # as `init` writes it
    if os.geteuid() == 0:
        tmp_path.chmod(0o755)
        result = agent("validate", "-c", str(path), user="nobody")
        refused(result, f"{path}: permission denied: user nobody may not read it")
    else:
        path.chmod(0o000)
        refused(agent("validate", "-c", str(path)), f"{path}: permission denied: user ")


def test_yaml_syntax_error_names_file_line_and_column(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("offerings:\n  - name: [HPC\n    backend_type: demo\n")
    result = agent("validate", "-c", str(path))
    refused(result, f"{path}:3:17: YAML syntax error: ")


def test_toml_syntax_error_names_file_line_and_column(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[[offerings]]\nname = "HPC"\nbackend_type = demo\n')
    refused(agent("validate", "-c", str(path)), f"{path}:3:16: TOML syntax error: Invalid value")


def test_a_huge_file_is_not_read_whole(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(GOOD + "# padding\n" * 100_000)
    refused(agent("validate", "-c", str(path)), f"{path}: larger than 512 KiB: not a config file")


def test_an_alias_bomb_is_refused_before_anything_walks_it(tmp_path):
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    path = tmp_path / "config.yaml"
    path.write_text("\n".join(lines) + "\n" + GOOD)  # 9^10 values expanded, 1 KB written
    assert path.stat().st_size < 2000
    refused(
        agent("validate", "-c", str(path)),
        f"{path}: more than {MAX_VALUES} values once YAML aliases are expanded",
    )


def test_a_toml_file_of_too_many_values_is_not_called_an_alias_bomb(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("".join(f"k{i} = [{', '.join(['1'] * 50)}]\n" for i in range(2100)))
    result = agent("validate", "-c", str(path))
    refused(result, f"{path}: more than {MAX_VALUES} values: far more than any config holds")
    assert "alias" not in result.stderr


@pytest.mark.parametrize("levels", [100, 2000])
@pytest.mark.parametrize("style", ["block", "flow", "toml"])
def test_deep_nesting(tmp_path, levels, style):
    if style == "toml":
        path = tmp_path / "config.toml"
        path.write_text("x = " + "[" * levels + "]" * levels + "\n")
    else:
        path = tmp_path / "config.yaml"
        if style == "block":
            path.write_text("x:\n  " + "- " * levels + "v\n")  # a list in a list in a list...
        else:
            path.write_text("x: " + "[" * levels + "]" * levels + "\n")
    refused(agent("validate", "-c", str(path)), f"nested more than {MAX_DEPTH} levels deep")


def test_a_token_pasted_as_a_key_name_is_not_shown(tmp_path, capsys):
    document = yaml.safe_load(GOOD)
    document["offerings"][0][TOKEN] = True
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(document))
    assert main(["validate", "--strict", "-c", str(path)]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "offerings[0].<40-character key hidden: it looks like a secret>: unknown key" in err
    assert TOKEN not in err


def test_no_offering_is_an_error(tmp_path, capsys):
    path = tmp_path / "config.yaml"
    path.write_text("offerings: []\n")
    assert main(["validate", "-c", str(path)]) == EXIT_CONFIG
    assert "offerings: no offering: the agent would serve nothing" in capsys.readouterr().err


def test_strict_says_unknown_key_suggests_the_name_and_sorts_by_path(tmp_path, capsys):
    document = yaml.safe_load(GOOD)
    document["log_levl"] = "debug"
    document["offerings"] *= 11
    for index, offering in enumerate(document["offerings"]):
        offering = document["offerings"][index] = dict(offering, name=f"HPC {index}")
        offering["waldur_offering_uuid"] = f"{index:032x}"
    document["offerings"][10]["stomp_enabeld"] = True
    document["offerings"][2]["backend_settings"] = {"alocation_prefix": "x_"}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(document))
    assert main(["validate", "--strict", "-c", str(path)]) == EXIT_CONFIG
    errors = [line.strip() for line in capsys.readouterr().err.splitlines()[1:]]
    assert errors == [
        "log_levl: unknown key; did you mean `log_level`?",
        "offerings[2].backend_settings.alocation_prefix: unknown key; "
        "did you mean `allocation_prefix`?",
        "offerings[10].stomp_enabeld: unknown key; did you mean `stomp_enabled`?",
    ]
    assert main(["validate", "-c", str(path)]) == EXIT_CONFIG  # the plugin's key: always
    assert "warning: log_levl: unknown key (ignored); did you mean" in capsys.readouterr().err


def test_config_show_toml_keeps_integers_integral(tmp_path, capsys):
    path = tmp_path / "config.yaml"
    path.write_text(GOOD)
    assert main(["config", "show", "-c", str(path), "--format", "toml"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "unit_factor = 60000\n" in out
    assert tomllib.loads(out)["offerings"][0]["backend_components"]["cpu"]["unit_factor"] == 60000


def test_diagnostics_only_looks_says_each_check_once_and_sums_up(tmp_path, sim, capsys):
    state = tmp_path / "state"
    document = yaml.safe_load(GOOD)
    offering = document["offerings"][0]
    offering.update(
        waldur_api_url=sim.api_url,
        waldur_api_token=sim.provider_token,
        waldur_offering_uuid=sim.summary()["offerings"][0]["uuid"],
    )
    document["state_dir"] = str(state)
    unreachable = dict(offering, name="Gone", waldur_offering_uuid="0" * 32)
    unreachable["waldur_api_url"] = "http://127.0.0.1:9/api/"
    document["offerings"].append(unreachable)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(document))

    assert main(["diagnostics", "-c", str(path)]) == EXIT_FAILURE
    out = capsys.readouterr().out
    assert not state.exists(), "diagnostics created the demo backend's store"
    assert out.count("waldur: FAILED") == 1
    assert "  waldur: FAILED: cannot connect to http://127.0.0.1:9/api/users/me/" in out
    assert "  offering: skipped (Waldur not reached)" in out
    assert out.count("backend demo: ping ok") == 2
    assert "Connection" not in out and "HTTPConnectionPool" not in out
    assert out.splitlines()[-1] == "diagnostics: 7 check(s), 1 failed: waldur"

    document["offerings"].pop()
    path.write_text(yaml.safe_dump(document))
    assert main(["diagnostics", "-c", str(path)]) == EXIT_OK
    assert capsys.readouterr().out.splitlines()[-1] == "diagnostics: 4 check(s), all passed"
    assert not state.exists()
