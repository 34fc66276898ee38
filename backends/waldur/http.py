"""HTTP to Waldur B: one `requests` session, answers decoded into the Structs of `models`.

Waldur B is this plugin's backend system, so its errors are backend errors: a refusal (4xx) is a
`TargetError` whose text reaches the Waldur A user, an outage (5xx, no answer) is
`BackendNotReadyError` and leaves the operation for a later cycle. The token never appears in an
error or a log line.
"""

from __future__ import annotations

import copy
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlparse

import msgspec
import requests

from waldur_site_agent_actors.backends.exceptions import BackendError, BackendNotReadyError

T = TypeVar("T")
PAGE_SIZE = 300


class TargetError(BackendError):
    """Waldur B answered with an error status."""

    def __init__(self, method: str, path: str, status: int, detail: str) -> None:
        self.status = status
        super().__init__(f"Waldur B refused {method} {path} (HTTP {status}): {detail}")


class TargetApi:
    def __init__(
        self, api_url: str, token: str, *, verify_ssl: bool = True, timeout: float = 30.0
    ) -> None:
        self.api_url = api_url.rstrip("/") + "/"
        self.session = requests.Session()
        self.session.verify = verify_ssl
        self.session.headers.update(
            {"Authorization": f"Token {token}", "Accept": "application/json"}
        )
        self.timeout = timeout
        self.proxies: dict[str, str] = {}

    def through(self, proxy: str) -> TargetApi:
        """The same client (session, token) sending its requests through `proxy`."""
        view = copy.copy(self)
        view.proxies = {"http": proxy, "https": proxy}
        return view

    def url(self, path: str) -> str:
        return self.api_url + path.lstrip("/")

    def request(
        self, method: str, path: str, params: dict[str, Any] | None = None, body: Any = None
    ) -> requests.Response:
        try:
            # `verify` per request: REQUESTS_CA_BUNDLE would override the session's.
            response = self.session.request(
                method,
                self.url(path),
                params=params,
                json=body,
                timeout=self.timeout,
                verify=self.session.verify,
                proxies=self.proxies,
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise BackendNotReadyError(
                f"Waldur B does not answer {method} {path}: {type(exc).__name__}"
            ) from exc
        if response.status_code >= 500:
            raise BackendNotReadyError(
                f"Waldur B failed {method} {path}: HTTP {response.status_code}"
            )
        if response.status_code >= 400:
            raise TargetError(method, path, response.status_code, _detail(response))
        return response

    def get(self, path: str, model: type[T], params: dict[str, Any] | None = None) -> T:
        return _decode(self.request("GET", path, params).content, model)

    def list(self, path: str, model: type[T], params: dict[str, Any] | None = None) -> list[T]:
        """Every page of a list (`Link: rel="next"`)."""
        query = {**(params or {}), "page_size": PAGE_SIZE}
        items: list[T] = []
        while True:
            response = self.request("GET", path, query)
            items.extend(_decode(response.content, list[model]))  # type: ignore[valid-type]
            following = response.links.get("next", {}).get("url")
            if not following:
                return items
            query["page"] = parse_qs(urlparse(following).query).get("page", ["1"])[0]

    def post(self, path: str, body: Any, model: type[T]) -> T:
        return _decode(self.request("POST", path, body=body).content, model)

    def send(self, path: str, body: Any, method: str = "POST") -> None:
        """A POST (or PATCH) whose answer is not needed."""
        self.request(method, path, body=body)


def _decode(content: bytes, model: type[T]) -> T:
    try:
        return msgspec.json.decode(content, type=model, strict=False)
    except msgspec.DecodeError as exc:
        raise BackendError(f"Waldur B sent an answer this agent cannot read: {exc}") from exc


def _detail(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500] or response.reason
    if isinstance(body, dict) and set(body) == {"detail"}:
        return str(body["detail"])
    return msgspec.json.encode(body).decode()[:500]
