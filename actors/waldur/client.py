"""HTTP access to one Waldur: a pooled `requests.Session`, timeouts, retries, pagination, decoding.

Responses are decoded straight into our own msgspec Structs holding only the fields we use;
waldur-api-client is far too heavy to import at run time (seconds and ~95 MB). An answer the
agent cannot decode is `Unreadable`, a `WaldurError` like any refusal; in a list, only the items
that cannot be decoded are set aside (`Listing.unreadable`), so one bad object never hides the
others.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qs, urlparse

import msgspec
import requests
from requests.adapters import HTTPAdapter

from waldur_site_agent_actors.actors import metrics

log = logging.getLogger("actors.waldur")

T = TypeVar("T")
PAGE_SIZE = 300
TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})


class WaldurError(Exception):
    """Waldur answered with an error status; `body` is its decoded JSON (or text)."""

    def __init__(self, method: str, path: str, status: int, body: Any) -> None:
        self.method, self.path, self.status, self.body = method, path, status, body
        super().__init__(f"{method} {path}: HTTP {status}: {body}")

    @property
    def transient(self) -> bool:
        return self.status in TRANSIENT_STATUS


class Unreadable(WaldurError):
    """Waldur answered, with something the agent cannot decode (not JSON, a field of the wrong
    type, a limit that is not a number): asking again gets the same answer."""

    def __init__(self, method: str, path: str, reason: str, uuid: str = "") -> None:
        self.method, self.path, self.status, self.body = method, path, 200, reason
        self.reason, self.uuid = reason, uuid
        Exception.__init__(self, f"{method} {path}: an answer the agent cannot read: {reason}")


class UnreadableItem(msgspec.Struct, frozen=True):
    """One object of a list answer that could not be decoded, and why."""

    uuid: str
    reason: str


class Listing(msgspec.Struct, Generic[T], frozen=True):
    """The decoded items of a list answer, and those set aside as unreadable."""

    items: list[T]
    unreadable: list[UnreadableItem]


class WaldurUnreachable(Exception):
    """No answer at all (connection refused, reset, timeout) after the retries."""

    transient = True


def environment_proxies(url: str) -> dict[str, str]:
    """The proxies the environment names for `url` (`HTTPS_PROXY`, `NO_PROXY`...), as requests
    would pick them."""
    return dict(requests.utils.get_environ_proxies(url))


def ca_bundle(url: str) -> str | bool:
    """What verifies Waldur's certificate: the bundle the environment names, as requests would
    take it (`REQUESTS_CA_BUNDLE`, `CURL_CA_BUNDLE`), else requests' own. Plain HTTP has none to
    verify (and requests would look the bundle's path up on disk again at every call)."""
    if not url.startswith("https:"):
        return True
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True


def proxies_for(url: str, proxy: str) -> dict[str, str]:
    """`global_proxy` for every URL when set (upstream gives it to httpx for all its calls),
    else what the environment names for this one."""
    return {"http": proxy, "https": proxy} if proxy else environment_proxies(url)


class OidcToken:
    """Client-credentials token, fetched when needed and renewed 30 s before it expires."""

    def __init__(
        self, session: requests.Session, proxy: str, token_url: str, client_id: str, secret: str
    ):
        self._session, self._url, self._id, self._secret = session, token_url, client_id, secret
        self._proxies = proxies_for(token_url, proxy)
        self._token, self._expires = "", 0.0
        self._lock = threading.Lock()

    def header(self) -> str:
        with self._lock:
            if time.monotonic() >= self._expires:
                response = self._session.post(
                    self._url,
                    data={
                        "grant_type": "client_credentials",
                        "client_id": self._id,
                        "client_secret": self._secret,
                    },
                    timeout=30,
                    verify=ca_bundle(self._url) if self._session.verify is not False else False,
                    proxies=self._proxies,
                )
                response.raise_for_status()
                body = response.json()
                self._token = body["access_token"]
                lifetime = float(body.get("expires_in") or 300)
                self._expires = time.monotonic() + max(lifetime - 30, 1)
            return f"Bearer {self._token}"


class WaldurClient:
    def __init__(
        self,
        api_url: str,
        token: str = "",
        *,
        oidc: tuple[str, str, str] | None = None,
        verify_ssl: bool = True,
        proxy: str = "",
        user_agent: str = "waldur-site-agent",
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        max_attempts: int = 6,
        backoff_base: float = 0.1,
        backoff_max: float = 30.0,
        cancel: threading.Event | None = None,
        offering: str = "",
    ) -> None:
        self.api_url = api_url.rstrip("/") + "/"
        self.offering = offering  # names this client's requests in the metrics
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=16)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        # The environment (proxies, CA bundle) is read once, here: requests would read it again,
        # and ~/.netrc, on every call, a tenth of the agent's CPU in a burst of orders.
        self.session.trust_env = False
        self.session.verify = ca_bundle(self.api_url) if verify_ssl else False
        self.session.proxies = proxies_for(self.api_url, proxy)
        self.session.headers.update({"User-Agent": user_agent, "Accept": "application/json"})
        self._token = token
        self._oidc = OidcToken(self.session, proxy, *oidc) if oidc and not token else None
        self.timeout = (connect_timeout, read_timeout)
        self.max_attempts = max_attempts
        self.backoff_base, self.backoff_max = backoff_base, backoff_max
        # Set when the offering stops (a restart, a reload, the agent stopping): a call waiting
        # to be retried gives up rather than holding the stop for its whole backoff; the next
        # start replays what was not done.
        self.cancel = cancel or threading.Event()
        self.calls = 0
        self.reported: set[tuple[str, UnreadableItem]] = set()
        """Unreadable list items already logged: each is logged once, not every sweep."""

    def authorization(self) -> str:
        return self._oidc.header() if self._oidc else f"Token {self._token}"

    def url(self, path: str) -> str:
        return path if path.startswith("http") else self.api_url + path.lstrip("/")

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        retry: bool | None = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        """Send one request; transient failures are retried when the call is safe to replay.

        GET/PUT/DELETE are replayed by default; a POST only when the caller says `retry=True`
        (provider actions whose replay is harmless, like `set_state_done` or `set_usage`).
        `headers` are added to this request's (a User-Agent naming the mode, say).
        """
        replay = retry if retry is not None else method in ("GET", "PUT", "DELETE", "HEAD")
        attempts = self.max_attempts if replay else 1
        url = self.url(path)
        for attempt in range(1, attempts + 1):
            delay = 0.0
            began = time.monotonic()
            try:
                self.calls += 1
                # Prepared here rather than by `Session.request`, whose merging of session and
                # call settings was a third of the client's CPU: the session adds only headers.
                prepared = requests.Request(
                    method,
                    url,
                    params=params,
                    json=json,
                    headers={
                        **self.session.headers,
                        **(headers or {}),
                        "Authorization": self.authorization(),
                    },
                ).prepare()
                response = self.session.send(
                    prepared,
                    timeout=self.timeout,
                    verify=self.session.verify,
                    proxies=self.session.proxies,
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                metrics.waldur_answered(self.offering, method, None, time.monotonic() - began)
                if attempt == attempts:
                    raise WaldurUnreachable(f"{method} {path}: {type(exc).__name__}") from exc
            else:
                metrics.waldur_answered(
                    self.offering, method, response.status_code, time.monotonic() - began
                )
                if response.status_code < 400:
                    return response
                error = WaldurError(method, path, response.status_code, _body(response))
                if not (error.transient and attempt < attempts):
                    raise error
                delay = _retry_after(response)
            delay = max(delay, self._backoff(attempt))
            metrics.waldur_retrying(self.offering, method, delay)
            log.info(
                "retrying %s %s in %.1f s (attempt %d/%d)", method, path, delay, attempt, attempts
            )
            if self.cancel.wait(delay):
                # Said here, not left to the caller: a sweep that ends now may not say why.
                log.info("%s %s: not retried, the offering is stopping", method, path)
                raise WaldurUnreachable(f"{method} {path}: not retried, the offering is stopping")
        raise AssertionError("unreachable")

    def _backoff(self, attempt: int) -> float:
        # A dropped connection or a 5xx is retried at once, twice (the order it belongs to,
        # and its lane, wait for it: with one call in five failing, a second failure in a row
        # is common, and a pause there idled the lane for more than the retries cost), then
        # after 0.1 s doubling: a Waldur that stays down is given up on in ~0.7 s and left to
        # the next sweep; a Retry-After Waldur sends is honoured over this.
        if attempt <= 2:
            return 0.0
        base = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 3))
        return base * (0.75 + random.random() / 2)  # noqa: S311 - jitter, not crypto

    def get(
        self,
        path: str,
        model: type[T],
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> T:
        response = self.request("GET", path, params=params, headers=headers)
        return decode("GET", path, response.content, model)

    def get_list(self, path: str, model: type[T], params: dict[str, Any] | None = None) -> list[T]:
        """An unpaginated list (a resource's team), decoded item by item like `list`."""
        response = self.request("GET", path, params=params)
        return self._readable(path, decode_items("GET", path, response.content, model))

    def listing(
        self,
        path: str,
        model: type[T],
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Listing[T]:
        """Every item of a paginated list, following `Link: rel="next"` with page_size=300,
        with the items that could not be decoded apart."""
        query = dict(params or {})
        query["page_size"] = PAGE_SIZE
        items: list[T] = []
        unreadable: list[UnreadableItem] = []
        while True:
            response = self.request("GET", path, params=query, headers=headers)
            page = decode_items("GET", path, response.content, model)
            items.extend(page.items)
            unreadable.extend(page.unreadable)
            next_page = _next_page(response)
            if next_page is None:
                return Listing(items, unreadable)
            query["page"] = next_page

    def _readable(self, path: str, listing: Listing[T]) -> list[T]:
        for item in listing.unreadable:
            if (path, item) not in self.reported:
                self.reported.add((path, item))
                log.error("skipped an object of %s the agent cannot read: %s", path, describe(item))
        return listing.items

    def list(self, path: str, model: type[T], params: dict[str, Any] | None = None) -> list[T]:
        """`listing`'s items; the unreadable ones are logged, once each."""
        return self._readable(path, self.listing(path, model, params))

    def post(
        self, path: str, body: Any = None, model: type[T] | None = None, *, retry: bool = False
    ) -> T | None:
        response = self.request("POST", path, json=body if body is not None else {}, retry=retry)
        if model is None or not response.content:
            return None
        return decode("POST", path, response.content, model)

    def send(self, method: str, path: str, body: Any, model: type[T] | None = None) -> T | None:
        response = self.request(method, path, json=body)
        if model is None or not response.content:
            return None
        return decode(method, path, response.content, model)

    def close(self) -> None:
        self.session.close()


def decode(method: str, path: str, content: bytes, model: type[T]) -> T:
    try:
        return msgspec.json.decode(content, type=model)
    except msgspec.DecodeError:
        data = _lenient(method, path, content)
        try:
            return msgspec.convert(data, model)
        except msgspec.ValidationError as exc:
            raise Unreadable(method, path, str(exc), _uuid_of(data)) from None


def decode_items(method: str, path: str, content: bytes, model: type[T]) -> Listing[T]:
    """A list answer: all at once when it is well-formed, else item by item."""
    try:
        return Listing(msgspec.json.decode(content, type=list[model]), [])  # type: ignore[valid-type]
    except msgspec.DecodeError:
        data = _lenient(method, path, content)
    if not isinstance(data, list):
        raise Unreadable(method, path, f"expected a list, got {type(data).__name__}")
    items: list[T] = []
    unreadable: list[UnreadableItem] = []
    for item in data:
        try:
            items.append(msgspec.convert(item, model))
        except msgspec.ValidationError as exc:
            unreadable.append(UnreadableItem(_uuid_of(item), str(exc)))
    return Listing(items, unreadable)


def _lenient(method: str, path: str, content: bytes) -> Any:
    """The answer as Python's `json` reads it: it takes what strict JSON refuses (`NaN`,
    `Infinity`), so the items around a bad value can still be read and the bad one named."""
    try:
        return json.loads(content)
    except ValueError as exc:
        raise Unreadable(method, path, f"not JSON ({exc})") from None


def _uuid_of(data: Any) -> str:
    uuid = data.get("uuid") if isinstance(data, dict) else None
    return uuid if isinstance(uuid, str) else ""


def describe(item: UnreadableItem) -> str:
    return f"{item.uuid or 'an object without uuid'}: {item.reason}"


def _body(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:500]


def _retry_after(response: requests.Response) -> float:
    try:
        return min(float(response.headers.get("Retry-After", 0)), 60.0)
    except ValueError:
        return 0.0


def _next_page(response: requests.Response) -> int | None:
    link = response.links.get("next")
    if not link:
        return None
    pages = parse_qs(urlparse(link["url"]).query).get("page")
    return int(pages[0]) if pages else None
