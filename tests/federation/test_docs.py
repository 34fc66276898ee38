"""docs/federation.md's configuration examples pass `waldur-site-agent validate --strict`, and the
backend starts from each."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from waldur_site_agent_actors.backends.discovery import create_backend
from waldur_site_agent_actors.backends.waldur.backend import WaldurBackend
from waldur_site_agent_actors.config import load_file

DOC = Path(__file__).resolve().parents[2] / "docs" / "federation.md"
EXAMPLES = [
    block
    for block in re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.DOTALL)
    if block.startswith("offerings:")
]


def test_the_page_has_its_examples():
    assert len(EXAMPLES) == 2


@pytest.mark.parametrize("example", EXAMPLES, ids=["full", "events-and-fan-in"])
def test_each_example_validates_and_starts_the_backend(tmp_path, example):
    config = tmp_path / "federation.yaml"
    config.write_text(example)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "waldur_site_agent_actors.agent.cli",
            "validate",
            "--strict",
            "-c",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=DOC.parents[1],
    )
    assert run.returncode == 0, run.stderr
    assert "OK (1 offering)" in run.stdout
    (offering,) = load_file(config, strict=True).config.offerings
    assert isinstance(create_backend(offering.backend_type, offering), WaldurBackend)


def test_a_wrong_factor_is_caught_by_validate(tmp_path):
    config = tmp_path / "federation.yaml"
    config.write_text(EXAMPLES[0].replace("factor: 5.0", "factor: 0").replace("cuid", "orcid"))
    run = subprocess.run(
        [sys.executable, "-m", "waldur_site_agent_actors.agent.cli", "validate", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=DOC.parents[1],
    )
    assert run.returncode != 0
    assert "backend_components.node_hours.target_components.gpu_hours.factor" in run.stderr
    assert "backend_settings.user_match_field" in run.stderr
