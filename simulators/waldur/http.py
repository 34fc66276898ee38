"""Request/response objects and the router: path templates like `/api/x/{uuid}/do/`."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from waldur_site_agent_actors.simulators.waldur.errors import ApiError

if TYPE_CHECKING:
    from waldur_site_agent_actors.simulators.waldur.state import Obj, State


@dataclass
class Response:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def ok(body: Any = None) -> Response:
    return Response(200, body)


def created(body: Any = None) -> Response:
    return Response(201, body)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: bytes
    base: str  # "http://127.0.0.1:PORT", for absolute links
    state: State
    args: list[str] = field(default_factory=list)
    user: Obj | None = None
    template: str = ""
    user_agent: str = ""

    def param(self, name: str) -> str | None:
        """The last value of a query parameter; an empty value counts as absent (django-filter)."""
        values = self.query.get(name)
        return values[-1] or None if values else None

    def params(self, name: str) -> list[str]:
        return self.query.get(name, [])

    def json(self) -> Any:
        if not self.body.strip():
            return {}
        try:
            return json.loads(self.body, parse_constant=_strict_constant)
        except ValueError as exc:
            raise ApiError(400, {"detail": f"JSON parse error - {exc}"}) from exc

    def data(self) -> dict[str, Any]:
        """The body as a JSON object, as DRF serializers want it."""
        body = self.json()
        if not isinstance(body, dict):
            kind = type(body).__name__
            raise ApiError(
                400,
                {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {kind}."]},
            )
        return body

    @property
    def me(self) -> Obj:
        assert self.user is not None
        return self.user

    def url(self, collection: str, uuid: str) -> str:
        return f"{self.base}/api/{collection}/{uuid}/"


Handler = Callable[[Request], Response]


@dataclass
class Route:
    method: str
    template: str
    parts: tuple[str, ...]
    handler: Handler
    public: bool = False

    @property
    def key(self) -> str:
        return f"{self.method} {self.template}"


class Router:
    def __init__(self) -> None:
        self._routes: dict[int, list[Route]] = {}

    def add(self, method: str, template: str, handler: Handler, *, public: bool = False) -> None:
        parts = tuple(template.strip("/").split("/"))
        route = Route(method, template, parts, handler, public)
        bucket = self._routes.setdefault(len(parts), [])
        bucket.append(route)
        # literal segments win over placeholders: `set_usage/` before `{uuid}/`
        bucket.sort(key=lambda r: tuple(p.startswith("{") for p in r.parts))

    def match(self, method: str, path: str) -> tuple[Route | None, list[str], list[str]]:
        """(route, args, allowed methods); route None with methods = 405, without = 404."""
        if not path.endswith("/"):
            return None, [], []
        segments = path.strip("/").split("/")
        allowed: list[str] = []
        found: tuple[tuple[str, ...], list[str]] | None = None
        for route in self._routes.get(len(segments), ()):
            args = _bind(route.parts, segments)
            if args is None:
                continue
            if found is not None and route.parts != found[0]:
                break
            found = (route.parts, args)
            if route.method == method:
                return route, args, []
            allowed.append(route.method)
        return None, [], allowed

    def routes(self) -> list[Route]:
        return [r for bucket in self._routes.values() for r in bucket]

    def templates(self) -> list[str]:
        return sorted(r.key for r in self.routes())


def _bind(parts: tuple[str, ...], segments: list[str]) -> list[str] | None:
    args = []
    for part, segment in zip(parts, segments, strict=True):
        if part.startswith("{"):
            if not segment:
                return None
            args.append(segment)
        elif part != segment:
            return None
    return args


def _strict_constant(name: str) -> Any:
    """DRF's strict JSON: `NaN` and `Infinity` are not JSON, and Mastermind refuses them."""
    raise ValueError(f"Out of range float values are not JSON compliant: {name!r}")
