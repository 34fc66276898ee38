"""`waldur_sync_offering_users` (`waldur-site-agent sync-offering-users`): the membership sweep's
username step, once, from the command line."""

import yaml

from waldur_site_agent_actors.agent.site_tools import legacy_sync_offering_users


def test_the_upstream_command_names_the_users_waiting_for_a_name(tmp_path, sim, waldur, capsys):
    config = tmp_path / "config.yaml"
    offering = {
        "name": "hpc",
        "waldur_api_url": sim.api_url,
        "waldur_api_token": sim.provider_token,
        "waldur_offering_uuid": waldur.offering["uuid"],
        "backend_type": "demo",
        "backend_settings": {"path": str(tmp_path / "demo.sqlite")},
    }
    config.write_text(yaml.safe_dump({"offerings": [offering]}))
    assert legacy_sync_offering_users(["-m", "membership_sync", "-c", str(config)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "hpc: 3 offering user(s) given a username"
    assert waldur.names() == {
        "alice": ("aandersen", "OK"),
        "bob": ("bberg", "OK"),
        "anna": ("aandersen2", "OK"),
        "8172634": (None, "Pending account linking"),
    }
    assert legacy_sync_offering_users(["--config", str(config)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "hpc: 0 offering user(s) given a username"
