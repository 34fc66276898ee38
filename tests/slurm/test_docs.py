"""docs/slurm.md: its configuration example validates, and a typo in it does not."""

import re
import subprocess
import sys
from pathlib import Path

import yaml

from waldur_site_agent_actors.backends.discovery import create_backend
from waldur_site_agent_actors.config import load_file

DOC = Path(__file__).parents[2] / "docs" / "slurm.md"


def blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.S)


def example() -> str:
    """The configuration example: the first yaml block; the others are `backend_settings` or
    `backend_components` fragments that must fit into it."""
    return blocks()[0]


def test_every_documented_fragment_validates_in_the_example(tmp_path):
    for fragment in blocks()[1:]:
        document = yaml.safe_load(example())
        offering, part = document["offerings"][0], yaml.safe_load(fragment)
        for key in ("backend_settings", "backend_components"):
            offering[key].update(part.get(key, {}))
        config = tmp_path / "config.yaml"
        config.write_text(yaml.safe_dump(document))
        checked = validate(config)
        assert checked.returncode == 0, fragment + checked.stdout + checked.stderr


def validate(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "waldur_site_agent_actors.agent.cli",
            "validate",
            "--strict",
            "-c",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parents[2],
    )


def test_the_documented_example_validates_and_builds_a_backend(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(example())
    checked = validate(config)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    (offering,) = load_file(config).config.offerings
    backend = create_backend("slurm", offering)
    assert backend.components["gpu"].tres == "gres/gpu"
    assert backend.client.cluster == "hpc1"


def test_an_unsupported_or_misspelt_key_is_refused(tmp_path):
    broken = yaml.safe_load(example())
    settings = broken["offerings"][0]["backend_settings"]
    settings["qos_pasued"] = "paused"
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(broken))
    refused = validate(config)
    assert refused.returncode != 0
    output = refused.stdout + refused.stderr
    assert "offerings[0].backend_settings.qos_pasued: unknown key" in output
    del settings["qos_pasued"]
    settings["qos_management"] = {"enabled": False, "apply_limits_to_qos": True}
    config.write_text(yaml.safe_dump(broken))
    refused = validate(config)
    assert refused.returncode != 0
    assert "apply_limits_to_qos needs qos_management.enabled" in refused.stdout + refused.stderr


def test_upstream_keys_load_off_and_on_and_a_broken_one_is_named(tmp_path):
    document = yaml.safe_load(example())
    settings = document["offerings"][0]["backend_settings"]
    # As upstream configs carry them: off.
    settings.update(
        soft_delete=False,
        periodic_limits={"enabled": False},
        qos_management={"enabled": False},
        execution_mode="cli",
        homedir_base_path=None,
        enforce_offering_partitions=False,
    )
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(document))
    checked = validate(config)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    settings.update(soft_delete=True, project_directory={"enabled": True})
    config.write_text(yaml.safe_dump(document))
    checked = validate(config)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # An LDAP welcome message, as upstream's; one it could not send is refused, naming the key.
    directory = {"uri": "ldap://ldap", "bind_dn": "cn=a", "bind_password": "x", "base_dn": "dc=x"}
    mail = {"smtp_host": "mail", "from_address": "hpc@example.org", "template_path": "w.j2"}
    settings.update(ldap={**directory, "remove_user_on_deactivate": True, "welcome_email": mail})
    config.write_text(yaml.safe_dump(document))
    checked = validate(config)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    del mail["smtp_host"]
    config.write_text(yaml.safe_dump(document))
    refused = validate(config)
    assert refused.returncode == 2
    output = refused.stdout + refused.stderr
    assert "offerings[0].backend_settings.ldap.welcome_email" in output
    assert "smtp_host" in output
