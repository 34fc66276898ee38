"""A plain HTTP forward proxy for tests of `global_proxy`: Waldur is given a host name that does
not resolve (`.invalid`), which only this proxy knows how to reach."""

from __future__ import annotations

import http.client
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from tests.loopback import LoopbackServer

HIDDEN = "waldur-behind-the-proxy.invalid"
HOP_BY_HOP = {"connection", "proxy-connection", "keep-alive", "transfer-encoding"}


class ForwardProxy(LoopbackServer):
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

        super().__init__(Handler)

    def carried(self, method: str, fragment: str) -> bool:
        return any(s.startswith(f"{method} ") and fragment in s for s in self.seen)


def behind_proxy(url: str) -> str:
    """The same URL with the host only the proxy resolves."""
    parts = urlsplit(url)
    return parts._replace(netloc=f"{HIDDEN}:{parts.port}").geturl()
