"""What Waldur's admins see of a running agent: its identity, its services and their processors,
health checks, and its log lines, all read from the simulator's state."""

from importlib.metadata import version

from tests.e2e.harness import Agent, offering_config, terminal, wait_for

DEMO_BACKEND = "waldur_site_agent_actors.backends.demo.backend.DemoBackend"


def identity_writes(sim):
    return [
        r
        for r in sim.requests()
        if r["endpoint"]
        in (
            "POST /api/marketplace-site-agent-identities/",
            "PUT /api/marketplace-site-agent-identities/{uuid}/",
        )
    ]


def services_of(sim, identity):
    services = sim.objects("services", identity=identity["uuid"])
    return {
        s["name"]: (s["mode"], {p["name"]: p for p in sim.objects("processors", service=s["uuid"])})
        for s in services
    }


def event_processing_seen(sim, offering):
    """When Waldur last heard from the offering's event process."""
    (row,) = sim.objects(
        "integration_statuses", offering=offering["uuid"], agent_type="Event processing"
    )
    return row["last_request_timestamp"]


def test_a_polling_agent_registers_once_per_start_with_its_services(tmp_path, sim, world):
    offering, _ = world
    agent = Agent(tmp_path, [offering_config(sim, offering, tmp_path / "state")])
    agent.start()
    try:
        identity = wait_for(
            lambda: sim.objects("identities", name=f"agent-{offering['uuid']}"),
            what="the agent identity",
            log=agent.log,
        )[0]
        assert identity["version"] == version("waldur-site-agent-actors")
        packages = {d["package"]: d["version"] for d in identity["dependencies"]}
        assert packages["waldur-site-agent-actors"] == identity["version"]
        assert "waldur-site-agent-fixture-plugin" in packages  # every installed plugin's dist
        # A service is registered before its processor: wait for both, or the last one races.
        services = wait_for(
            lambda: (
                len(s := services_of(sim, identity)) == 3
                and all(found for _, found in s.values())
                and s
            ),
            what="3 services, each with its processor",
            log=agent.log,
        )
        assert {name: mode for name, (mode, _) in services.items()} == {
            "order_process": "order_process",
            "report": "report",
            "membership_sync": "membership_sync",
        }
        processors = {
            name: {p: (row["backend_type"], row["backend_version"]) for p, row in found.items()}
            for name, (_, found) in services.items()
        }
        demo = (DEMO_BACKEND, identity["version"])
        assert processors == {
            "order_process": {"OfferingOrderProcessor": demo},
            "report": {"OfferingReportProcessor": demo},
            "membership_sync": {"OfferingMembershipProcessor": demo},
        }
        # Waldur's integration status, by the User-Agent of each mode's calls: the event
        # process (part of every full run) by upstream's health check at start, the others by
        # their cycles.
        wait_for(
            lambda: (
                {
                    s["agent_type"]
                    for s in sim.objects("integration_statuses", offering=offering["uuid"])
                }
                == {"Order processing", "Usage reporting", "Resource sync", "Event processing"}
            ),
            what="an integration status for every mode",
            log=agent.log,
        )
        # Many order cycles (0.6 s apart) later, still the one registration of this start.
        cycles = sum(1 for r in sim.requests() if r["endpoint"] == "GET /api/marketplace-orders/")
        wait_for(
            lambda: (
                sum(1 for r in sim.requests() if r["endpoint"] == "GET /api/marketplace-orders/")
                > cycles + 3
            ),
            what="more order cycles",
        )
        assert [r["method"] for r in identity_writes(sim)] == ["POST"]
    finally:
        assert agent.stop() == 0
    # Read once that run has stopped: the health check is several calls, and the status
    # appears with the first of them.
    health_checked = event_processing_seen(sim, offering)
    before = identity["last_restarted"]
    agent.start("-m", "report")
    try:
        wait_for(lambda: len(identity_writes(sim)) == 2, what="the identity PUT", log=agent.log)
        assert [r["method"] for r in identity_writes(sim)] == ["POST", "PUT"]
        again = sim.objects("identities", name=f"agent-{offering['uuid']}")
        assert len(again) == 1 and again[0]["last_restarted"] > before
    finally:
        assert agent.stop() == 0
    # Only the report mode ran: no new health check was sent (upstream's report process sends
    # none), and the services of the earlier start stay registered.
    assert event_processing_seen(sim, offering) == health_checked


def test_event_services_are_named_as_upstream_names_them(tmp_path, sim, world):
    offering, _ = world
    config = {**offering_config(sim, offering, tmp_path / "state"), "stomp_enabled": True}
    agent = Agent(tmp_path, [config]).start("-m", "event_process")
    try:
        identity = wait_for(
            lambda: sim.objects("identities", name=f"agent-{offering['uuid']}"),
            what="the agent identity",
            log=agent.log,
        )[0]
        names = wait_for(
            lambda: (
                "event_process-offering_resources_sync" in (n := services_of(sim, identity))
                and n["event_process-offering_resources_sync"][1]
                and n
            ),
            what="the event services",
            log=agent.log,
        )
    finally:
        agent.stop()
    assert names["initial-offering-process"][0] == "event_process"
    assert set(names["initial-offering-process"][1]) == {
        "OfferingOrderProcessor",
        "OfferingMembershipProcessor",
    }
    assert set(names["event_process-order"][1]) == {"OfferingOrderProcessor"}
    assert set(names["event_process-user_role"][1]) == {"OfferingMembershipProcessor"}
    assert "order_process" not in names and "report" not in names


def test_log_lines_reach_waldur_under_the_identity(tmp_path, sim, consumer, world):
    offering, projects = world
    config = offering_config(sim, offering, tmp_path / "state", fail_on=["create"])
    agent = Agent(
        tmp_path,
        [config],
        log_shipping={"enabled": True, "ship_interval_seconds": 600, "log_level": "warning"},
    ).start()
    try:
        order = consumer.order(offering["url"], projects[0]["url"], {"cpu": 1, "mem": 1})
        wait_for(lambda: terminal(consumer, order["uuid"]), what="the order to fail", log=agent.log)
        identity = wait_for(
            lambda: sim.objects("identities", name=f"agent-{offering['uuid']}"), what="identity"
        )[0]
        assert not sim.objects("agent_logs"), "shipped before the interval"
    finally:
        assert agent.stop() == 0  # what is buffered is shipped on the way out
    shipped = [
        row
        for row in sim.objects("agent_logs", identity=identity["uuid"])
        if order["uuid"] in row["message"]
    ]
    assert shipped, agent.log()
    assert shipped[0]["level"] == "ERROR" and shipped[0]["module"] == "actors.order_process"
    assert "demo backend was told to fail on create" in shipped[0]["message"]
    every = sim.objects("agent_logs")
    assert all(row["level"] in ("WARNING", "ERROR", "CRITICAL") for row in every)
