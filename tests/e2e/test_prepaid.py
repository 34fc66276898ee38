"""Prepaid one-time components (`accounting_type: one`) end to end: Waldur takes a limit for a
one-time component only when it is prepaid (upstream's "Prepaid HPC Allocation" example), and the
agent turns that limit into the backend's quota in the backend's units, on create and update."""

from tests.e2e.harness import COMPONENTS, Agent, DemoDb, offering_config, terminal, wait_for

NODE_HOURS = {
    "measured_unit": "node-Hours",
    "accounting_type": "one",
    "label": "Node hours",
    "unit_factor": 60,
}


def add_prepaid_component(sim, offering):
    """The provider adds a prepaid one-time component to the offering, as in Waldur's UI."""
    from waldur_site_agent_actors.simulators.waldur.client import ConsumerClient

    provider = ConsumerClient(sim.api_url, sim.provider_token)
    try:
        provider._call(
            "POST",
            f"marketplace-provider-offerings/{offering['uuid']}/create_offering_component/",
            {
                "type": "node_hours",
                "name": "Node hours",
                "billing_type": "one",
                "is_prepaid": True,
                "measured_unit": "node-Hours",
            },
        )
    finally:
        provider.close()


def test_a_prepaid_limit_reaches_the_backend_on_create_and_update(tmp_path, sim, consumer, world):
    offering, projects = world
    add_prepaid_component(sim, offering)
    config = offering_config(sim, offering, tmp_path / "state")
    config["backend_components"] = {**COMPONENTS, "node_hours": NODE_HOURS}
    db = DemoDb(tmp_path / "state" / "demo-hpc.sqlite")
    agent = Agent(tmp_path, [config]).start()
    try:
        limits = {"cpu": 2, "mem": 1, "node_hours": 5}
        order = consumer.order(offering["url"], projects[0]["url"], limits, name="prepaid run")
        done = wait_for(lambda: terminal(consumer, order["uuid"]), what="create", log=agent.log)
        assert done["state"] == "done", done
        resource = consumer.resource(done["marketplace_resource_uuid"])
        account = resource["backend_id"]
        assert db.limits(account)["node_hours"] == 5 * 60, "Waldur's node-hours in minutes"

        update = consumer.update_limits(resource["uuid"], {**limits, "node_hours": 8})
        updated = wait_for(lambda: terminal(consumer, update), what="update", log=agent.log)
        assert updated["state"] == "done", updated
        assert db.limits(account)["node_hours"] == 8 * 60
        assert consumer.resource(resource["uuid"])["limits"]["node_hours"] == 8
    finally:
        assert agent.stop() == 0
