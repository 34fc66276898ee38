"""`global_proxy`: the agent reaches Waldur only through the proxy it names, its OIDC token
included, and so do the site tools. Waldur is given a host name that does not resolve (`.invalid`),
which only the proxy knows how to reach: without the proxy, nothing gets through."""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from tests.e2e.harness import Agent, offering_config, terminal, wait_for
from waldur_site_agent_actors.agent.cli import main

HIDDEN = "waldur-behind-the-proxy.invalid"
HOP_BY_HOP = {"connection", "proxy-connection", "keep-alive", "transfer-encoding"}


class ForwardProxy(ThreadingHTTPServer):
    """A plain HTTP forward proxy (absolute-URI requests), as a site's egress proxy is: it
    forwards `HIDDEN` to the Waldur simulator, and writes down each request it carries."""

    def __init__(self, waldur_port: int) -> None:
        self.waldur_port = waldur_port
        self.seen: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                target = urlsplit(self.path)
                if target.hostname != HIDDEN:
                    self.send_error(502, f"this proxy only knows {HIDDEN}")
                    return
                proxy.seen.append(f"{self.command} {target.path}")
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                upstream = http.client.HTTPConnection("127.0.0.1", proxy.waldur_port, timeout=60)
                try:
                    path = target.path + (f"?{target.query}" if target.query else "")
                    upstream.request(self.command, path, body=body or None, headers=headers)
                    answer = upstream.getresponse()
                    content = answer.read()
                finally:
                    upstream.close()
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in HOP_BY_HOP | {"content-length"}:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.daemon_threads = True
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def carried(self, method: str, fragment: str) -> bool:
        return any(s.startswith(f"{method} ") and fragment in s for s in self.seen)


def behind_proxy(url: str) -> str:
    """The same URL with the host only the proxy resolves."""
    parts = urlsplit(url)
    return parts._replace(netloc=f"{HIDDEN}:{parts.port}").geturl()


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
        proxy.shutdown()
