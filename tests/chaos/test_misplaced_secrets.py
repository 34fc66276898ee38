"""Secrets in the wrong places of a config: said in one clear line, never printed, and nothing
served changes (a running agent refuses the reload and carries on)."""

from __future__ import annotations

import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import tomli_w

from tests.e2e.harness import Agent, offering_config, terminal, wait_for

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "hunter2-in-the-url"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "waldur_site_agent_actors.agent.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def rewrite(agent: Agent, change) -> None:
    document = tomllib.loads(agent.config.read_text())
    change(document["offerings"][0])
    agent.config.write_text(tomli_w.dumps(document))


def test_token_under_a_plain_key_is_masked_and_said(tmp_path, sim, consumer, world):
    offering, projects = world
    # The Waldur token pasted into a plugin setting whose name does not say "secret".
    config = offering_config(sim, offering, tmp_path / "state", default_account=sim.provider_token)
    agent = Agent(tmp_path, [config])

    checked = cli("validate", "-c", str(agent.config))
    assert checked.returncode == 0, checked.stderr
    assert (
        "offerings[0].backend_settings.default_account: holds the secret value of "
        "offerings[0].waldur_api_token under a key not marked secret" in checked.stderr
    )
    shown = cli("config", "show", "-c", str(agent.config))
    assert shown.returncode == 0 and "default_account" in shown.stdout
    assert sim.provider_token not in checked.stdout + checked.stderr + shown.stdout

    agent.start()
    try:
        order = consumer.order(offering["url"], projects[0]["url"], {"cpu": 1, "mem": 1})
        done = wait_for(lambda: terminal(consumer, order["uuid"]), what="order", log=agent.log)
        assert done["state"] == "done"
    finally:
        assert agent.stop() == 0
    assert "holds the secret value" in agent.log()
    assert sim.provider_token not in agent.log()


def test_password_in_the_url_is_refused_without_printing_it(tmp_path, sim, consumer, world):
    offering, projects = world
    agent = Agent(tmp_path, [offering_config(sim, offering, tmp_path / "state")]).start()
    try:
        first = consumer.order(offering["url"], projects[0]["url"], {"cpu": 1, "mem": 1})
        wait_for(lambda: terminal(consumer, first["uuid"]), what="first order", log=agent.log)

        url = sim.api_url.replace("http://", f"http://provider:{PASSWORD}@")
        rewrite(agent, lambda o: o.update(waldur_api_url=url))
        checked = cli("validate", "-c", str(agent.config))
        assert checked.returncode == 2
        assert "offerings[0].waldur_api_url: credentials in the URL" in checked.stderr
        # The running agent is told to reload it: it refuses and carries on as it was.
        assert agent.process is not None
        agent.process.send_signal(signal.SIGHUP)
        wait_for(lambda: "reload refused" in agent.log(), what="the reload refused")
        second = consumer.order(offering["url"], projects[1]["url"], {"cpu": 2, "mem": 2})
        done = wait_for(lambda: terminal(consumer, second["uuid"]), what="order", log=agent.log)
        assert done["state"] == "done"
    finally:
        assert agent.stop() == 0
    restarted = cli("run", "-c", str(agent.config))  # a fresh start refuses it too
    assert restarted.returncode == 2
    assert "credentials in the URL" in restarted.stderr
    for text in (agent.log(), checked.stdout, checked.stderr, restarted.stderr):
        assert PASSWORD not in text
        assert sim.provider_token not in text


def test_a_plugin_setting_not_in_its_schema_is_refused_without_its_value(tmp_path, sim, world):
    offering, _ = world
    config = offering_config(sim, offering, tmp_path / "state", auth=sim.provider_token)
    agent = Agent(tmp_path, [config])
    refused = cli("run", "-c", str(agent.config))
    assert refused.returncode == 2
    assert "offerings[0].backend_settings.auth: unknown key" in refused.stderr
    assert sim.provider_token not in refused.stdout + refused.stderr
