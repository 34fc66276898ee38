"""docs/config.md is generated from the config Structs and cannot drift from them."""

import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from waldur_site_agent_actors.config import reference
from waldur_site_agent_actors.config.load import ENV_OVERRIDES

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "config.md"


def test_docs_config_md_is_the_render():
    assert DOC.read_text(encoding="utf-8") == reference.render(), (
        "docs/config.md is stale: run "
        "`python -m waldur_site_agent_actors.config.reference > docs/config.md`"
    )


def test_module_prints_the_render():
    out = subprocess.run(
        [sys.executable, "-m", "waldur_site_agent_actors.config.reference"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    assert out == reference.render()


@pytest.mark.parametrize("cls", list(reference.DESCRIPTIONS))
def test_every_field_has_a_description_and_no_description_is_stale(cls):
    fields = {f.name for f in msgspec.structs.fields(cls)}
    assert set(reference.DESCRIPTIONS[cls]) == fields
    assert all(text.strip() for text in reference.DESCRIPTIONS[cls].values())


def test_every_struct_of_the_model_has_a_section():
    assert [cls for _, cls, _ in reference.SECTIONS] == list(reference.DESCRIPTIONS)


def test_the_reference_names_our_keys_and_the_environment():
    text = reference.render()
    ours = text.split("## Ours only", 1)[1].split("##", 1)[0]
    for key in ("supervision", "report_period_minutes", "command_timeout_seconds", "state_dir"):
        assert f"`{key}`" in ours
    for variable in ENV_OVERRIDES:
        assert f"`{variable}`" in text
    assert "| `unit_factor` | number > 0 | `1` | works; test `tests/" in text
    assert (
        "| `sentry_dsn` | string, optional | unset | works; test `tests/test_telemetry.py::" in text
    )
    slurm = text.split("### `slurm`", 1)[1].split("###", 1)[0]
    emulator = "| `periodic_limits.emulator_mode` | works; test `tests/slurm/test_periodic.py::"
    assert emulator in slurm
    assert "**refused when on**" not in text.split("## Root keys", 1)[1]  # every key works
    assert "| `ldap.uri` | works; test `tests/slurm/test_ldap.py::" in slurm
    assert "| `ldap.welcome_email.smtp_host` | works; test `tests/usernames/" in slurm
    assert "| `ldap.remove_user_on_deactivate` | no effect, as upstream: " in slurm
    assert '| `accounting_type` | "usage" \\| "limit" \\| "one" | **required** |' in text
    assert "| `stomp_ws_port` | integer >= 1 and <= 65535, optional | unset |" in text
