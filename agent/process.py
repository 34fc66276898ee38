"""What every command that runs plugins does first: secret-masking logs, error tracking, the
state directory."""

from __future__ import annotations

import os

from waldur_site_agent_actors.agent import logs
from waldur_site_agent_actors.backends.base import STATE_DIR_VARIABLE
from waldur_site_agent_actors.config import AgentConfig
from waldur_site_agent_actors.config.secrets import secret_values


def prepare(config: AgentConfig, ship_logs: bool = False) -> None:
    """`ship_logs`: the long-running service buffers lines for `log_shipping`; one-shot
    commands, as upstream's, ship nothing."""
    shipping = config.log_shipping if ship_logs else None
    logs.setup(config.log_level, secret_values(config), shipping=shipping)
    if config.sentry_dsn or config.elastic_apm_server_url:
        from waldur_site_agent_actors.agent import telemetry
        from waldur_site_agent_actors.agent.cli import version

        telemetry.start(config, release=version())
    # Plugins that keep local files (the demo backend) find the agent's state directory here.
    os.environ.setdefault(STATE_DIR_VARIABLE, config.state_dir)
