"""List conventions: LinkHeaderPagination, `field=` selection, django-filter style filters."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from waldur_site_agent_actors.simulators.waldur.errors import ApiError, detail, invalid
from waldur_site_agent_actors.simulators.waldur.http import Request, Response
from waldur_site_agent_actors.simulators.waldur.state import Obj, parse_uuid

DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 300


def select(body: Obj, fields: list[str]) -> Obj:
    """Only the requested keys; unknown names are ignored, none valid means everything."""
    if not fields:
        return body
    chosen = {k: body[k] for k in fields if k in body}
    return chosen or body


def one(req: Request, body: Obj) -> Response:
    return Response(200, select(body, req.params("field")))


def paginate(req: Request, items: list[Obj], render: Callable[[Obj], Obj]) -> Response:
    size = _page_size(req.param("page_size"))
    count = len(items)
    pages = max(1, math.ceil(count / size))
    raw = req.param("page") or "1"
    page = pages if raw == "last" else _int(raw)
    if page is None or not 1 <= page <= pages:
        raise detail(404, "Invalid page.")
    fields = req.params("field")
    body = [select(render(o), fields) for o in items[(page - 1) * size : page * size]]
    links = [f'<{_page_url(req, 1)}>; rel="first"']
    if page > 1:
        links.append(f'<{_page_url(req, page - 1)}>; rel="prev"')
    if page < pages:
        links.append(f'<{_page_url(req, page + 1)}>; rel="next"')
    links.append(f'<{_page_url(req, pages)}>; rel="last"')
    return Response(200, body, {"X-Result-Count": str(count), "Link": ", ".join(links)})


def _page_size(raw: str | None) -> int:
    value = _int(raw) if raw else None
    if value is None or value <= 0:
        return DEFAULT_PAGE_SIZE
    return min(value, MAX_PAGE_SIZE)


def _int(raw: str) -> int | None:
    try:
        return int(raw)
    except ValueError:
        return None


def _page_url(req: Request, page: int) -> str:
    query = [(k, v) for k, values in req.query.items() if k != "page" for v in values]
    if page > 1:
        query.append(("page", str(page)))
    suffix = f"?{urlencode(query)}" if query else ""
    return f"{req.base}{req.path}{suffix}"


# filters: each returns None when the parameter is absent


def uuids(req: Request, name: str) -> set[str] | None:
    values = [v for v in req.params(name) if v != ""]  # an empty value filters nothing
    if not values:
        return None
    parsed = {parse_uuid(v) for v in values}
    if None in parsed:
        raise invalid(name, "Enter a valid UUID.")
    return {p for p in parsed if p}


def choices(req: Request, name: str, allowed: Iterable[str]) -> set[str] | None:
    values = [v for v in req.params(name) if v != ""]  # an empty value filters nothing
    if not values:
        return None
    allowed = set(allowed)
    for value in values:
        if value not in allowed:
            raise invalid(
                name, f"Select a valid choice. {value} is not one of the available choices."
            )
    return set(values)


def boolean(req: Request, name: str) -> bool | None:
    raw = req.param(name)
    if raw is None or raw == "":
        return None
    lowered = raw.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise invalid(name, "Select a valid choice. That choice is not one of the available choices.")


def a_date(req: Request, name: str) -> date | None:
    raw = req.param(name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise invalid(name, "Enter a valid date.") from exc


def a_datetime(req: Request, name: str) -> datetime | None:
    raw = req.param(name)
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError as exc:
        raise invalid(name, "Enter a valid date/time.") from exc
    if moment.tzinfo is None:
        from datetime import UTC

        moment = moment.replace(tzinfo=UTC)
    return moment


def parse_stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def order_by(req: Request, items: list[Obj], render: Callable[[Obj], Obj], default: str) -> None:
    """Sort in place by the `o` parameter (`-created`, `name`, ...), else by `default`."""
    key = req.param("o") or default
    reverse = key.startswith("-")
    name = key.lstrip("-")
    if not items:
        return
    sample = render(items[0])
    if name not in sample:
        raise ApiError(
            400, {"o": [f"Select a valid choice. {key} is not one of the available choices."]}
        )
    items.sort(key=lambda o: _sortable(render(o).get(name)), reverse=reverse)


def _sortable(value: Any) -> tuple[int, Any]:
    return (0, "") if value is None else (1, value if not isinstance(value, dict) else str(value))
