"""`global_proxy`: the agent reaches Waldur only through the proxy it names, its OIDC token
included, and so do the site tools. Waldur is given a host name that does not resolve (`.invalid`),
which only the proxy knows how to reach: without the proxy, nothing gets through."""

from __future__ import annotations

from urllib.parse import urlsplit

from tests.e2e.harness import Agent, offering_config, terminal, wait_for
from tests.forward_proxy import ForwardProxy, behind_proxy
from waldur_site_agent_actors.agent.cli import main


def test_the_agent_and_its_tools_reach_waldur_through_the_global_proxy(
    tmp_path, sim, consumer, world, monkeypatch
):
    offering, projects = world
    # The environment's proxy loses to the configured one, as with upstream's httpx client:
    # here one where nothing listens (the discard port), for the agent and the tools alike.
    unreachable = {"HTTP_PROXY": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9"}
    unreachable |= {"NO_PROXY": "", "no_proxy": ""}
    proxy = ForwardProxy(urlsplit(sim.api_url).port or 80)
    oidc = sim.summary()["oidc"][0]
    config = offering_config(sim, offering, tmp_path / "state")
    del config["waldur_api_token"]  # a token from the OIDC provider, fetched through the proxy
    config.update(
        waldur_api_url=behind_proxy(sim.api_url),
        oidc_token_url=behind_proxy(oidc["token_url"]),
        oidc_client_id=oidc["client_id"],
        oidc_client_secret=oidc["client_secret"],
    )
    agent = Agent(tmp_path, [config], global_proxy=proxy.url).start(env=unreachable)
    try:
        order = consumer.order(offering["url"], projects[0]["url"], {"cpu": 1, "mem": 1})
        done = wait_for(lambda: terminal(consumer, order["uuid"]), what="the order", log=agent.log)
        assert done["state"] == "done", done
        assert proxy.carried("POST", "/_idp/token/"), proxy.seen
        assert proxy.carried("POST", f"/api/marketplace-orders/{order['uuid']}/set_state_done/")
        assert agent.stop() == 0

        proxy.seen.clear()
        for name, value in unreachable.items():
            monkeypatch.setenv(name, value)
        assert main(["load-components", "-c", str(agent.config)]) == 0
        assert proxy.carried("POST", "/update_offering_component/"), proxy.seen
    finally:
        agent.stop()
        proxy.close()
