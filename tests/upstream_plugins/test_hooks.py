"""The hooks upstream's processors call around an upstream plugin's orders, called by this agent
at the same points: `evaluate_pending_order` with a working client for the offering's Waldur,
`run_preflight` before each order cycle (`supports_cycle_preflight`), `post_delete_resource`
after a deletion; upstream's exceptions mapped (not ready: the order waits for a later cycle;
`BackendError`: the order fails with its text)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.harness import Agent, terminal, wait_for
from tests.upstream_plugins.dist import plugin_dist
from tests.upstream_plugins.state import read_state
from waldur_site_agent_actors.agent.demo import COMPONENTS

pytestmark = pytest.mark.upstream

# The guide's plugin with the hooks a site's plugin may add; what they see goes to a journal.
HOOKS_PLUGIN = """
import json
from pathlib import Path

from waldur_api_client.api.marketplace_orders import marketplace_orders_retrieve
from waldur_site_agent.backend.backends import PendingOrderDecision
from waldur_site_agent.backend.exceptions import BackendError, BackendNotReadyError
from waldur_site_agent_mycustom.backend import MyCustomBackend


class Backend(MyCustomBackend):
    supports_cycle_preflight = True

    def __init__(self, backend_settings, backend_components):
        super().__init__(backend_settings, backend_components)
        self.journal = Path(backend_settings["state_file"] + ".journal")
        self.closed = Path(backend_settings["state_file"] + ".closed")

    def note(self, *entry):
        with self.journal.open("a") as journal:
            journal.write(json.dumps(entry) + "\\n")

    def run_preflight(self):
        if self.closed.exists():
            raise BackendNotReadyError("closed for maintenance")

    def evaluate_pending_order(self, order, waldur_rest_client):
        # The order read again through the client handed over, as a plugin asking Waldur would.
        again = marketplace_orders_retrieve.sync(uuid=order.uuid, client=waldur_rest_client)
        name = again.attributes["name"] if "name" in again.attributes else again.type_
        self.note("evaluate", name)
        if name == "rejected run":
            return PendingOrderDecision.REJECT
        if name == "held run":
            return PendingOrderDecision.PENDING
        return PendingOrderDecision.ACCEPT

    def _pre_create_resource(self, waldur_resource, user_context=None):
        super()._pre_create_resource(waldur_resource, user_context)
        if waldur_resource.name == "refused run":
            raise BackendError("the system refuses this run")
        if waldur_resource.name == "slow run" and ["warming", "slow run"] not in self.entries():
            self.note("warming", "slow run")
            raise BackendNotReadyError("the system is warming up")

    def post_delete_resource(self, waldur_resource):
        self.note("post_delete", waldur_resource.backend_id)

    def entries(self):
        if not self.journal.exists():
            return []
        return [json.loads(line) for line in self.journal.read_text().splitlines()]
"""


def journal(state: Path) -> list[list[str]]:
    path = Path(f"{state}.journal")
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_upstreams_order_hooks_and_exceptions(tmp_path, sim, consumer, world, python):
    offering, projects = world
    site = tmp_path / "site"
    plugin_dist(site, "hooks-plugin", "hooks", "hooks_plugin", HOOKS_PLUGIN)
    state = tmp_path / "mycustom.json"
    closed = Path(f"{state}.closed")
    closed.touch()
    config = {
        "name": "hooks plugin",
        "waldur_api_url": sim.api_url,
        "waldur_api_token": sim.provider_token,
        "waldur_offering_uuid": offering["uuid"],
        "backend_type": "hooks",
        "backend_settings": {"state_file": str(state), "allocation_prefix": "alloc_"},
        "backend_components": COMPONENTS,
    }
    agent = Agent(tmp_path, [config]).start(python=python, env={"PYTHONPATH": str(site)})

    def order(name):
        placed = consumer.order(offering["url"], projects[0]["url"], {"cpu": 1}, name=name)
        return placed["uuid"]

    def evaluated(name):
        return [entry for entry in journal(state) if entry == ["evaluate", name]]

    try:
        first = order("climate run")
        # The preflight refuses two cycles: the order is not even looked at.
        wait_for(
            lambda: agent.log().count("the backend is not ready: closed for maintenance") >= 2,
            what="two cycles refused by the preflight",
            log=agent.log,
        )
        assert consumer.order_details(first)["state"] == "pending-provider"
        assert not evaluated("climate run")
        closed.unlink()
        created = wait_for(lambda: terminal(consumer, first), 60, "create", agent.log)
        assert created["state"] == "done", created
        assert evaluated("climate run")
        account = consumer.resource(created["marketplace_resource_uuid"])["backend_id"]
        assert account in read_state(state)["accounts"]

        rejected = order("rejected run")
        refusal = wait_for(lambda: terminal(consumer, rejected), 60, "reject", agent.log)
        assert refusal["state"] == "rejected", refusal

        held = order("held run")
        wait_for(lambda: len(evaluated("held run")) >= 2, what="held twice", log=agent.log)
        assert consumer.order_details(held)["state"] == "pending-provider"

        slow = order("slow run")
        done = wait_for(lambda: terminal(consumer, slow), 60, "slow create", agent.log)
        assert done["state"] == "done", done
        assert ["warming", "slow run"] in journal(state)
        assert f"order {slow} left for a later cycle: the system is warming up" in agent.log()

        refused = order("refused run")
        erred = wait_for(lambda: terminal(consumer, refused), 60, "refused create", agent.log)
        assert erred["state"] == "erred", erred
        assert "the system refuses this run" in erred["error_message"], erred

        terminate = consumer.terminate(created["marketplace_resource_uuid"])
        ended = wait_for(lambda: terminal(consumer, terminate), 60, "terminate", agent.log)
        assert ended["state"] == "done", ended
        assert account not in read_state(state)["accounts"]
        assert ["post_delete", account] in journal(state)
    finally:
        assert agent.stop() == 0
