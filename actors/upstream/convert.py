"""Between this agent's types and upstream's: results, models and exceptions.

Upstream plugins get `waldur_api_client` models and upstream's structures, and raise upstream's
exceptions; the actors get this agent's structures and exceptions. Everything crossing the
adapter passes through here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

import httpx
from waldur_api_client.errors import UnexpectedStatus
from waldur_api_client.models.offering_user import OfferingUser as UpstreamOfferingUser
from waldur_api_client.types import Unset
from waldur_site_agent.backend import exceptions as upstream_errors
from waldur_site_agent.backend import structures as upstream

from waldur_site_agent_actors.actors.waldur.client import WaldurError, WaldurUnreachable
from waldur_site_agent_actors.backends import exceptions as ours
from waldur_site_agent_actors.backends.structures import BackendResourceInfo, Endpoint
from waldur_site_agent_actors.backends.usernames import OfferingUserInfo

TRANSIENT = frozenset({429, 500, 502, 503, 504})


def plain(value: Any) -> Any:
    """Upstream values as JSON-like data: enums by value, UNSET dropped, containers copied."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(plain(k)): plain(v) for k, v in value.items() if not isinstance(v, Unset)}
    if isinstance(value, list | tuple | set):
        return [plain(v) for v in value]
    return value


def numbers(values: dict[str, Any]) -> dict[str, float]:
    return {str(k): float(v) for k, v in (values or {}).items() if v is not None}


def whole(values: dict[str, float]) -> dict[str, int | float]:
    """Limits as Waldur's JSON carries them to upstream: 5, not 5.0."""
    return {k: int(v) if float(v).is_integer() else v for k, v in values.items()}


def resource_info(info: upstream.BackendResourceInfo, backend_id: str = "") -> BackendResourceInfo:
    return BackendResourceInfo(
        backend_id=info.backend_id or backend_id,
        parent_id=info.parent_id or "",
        effective_id=info.effective_id or "",
        users=[str(u) for u in info.users or []],
        usage={str(who): numbers(amounts) for who, amounts in (info.usage or {}).items()},
        limits={str(k): int(v) for k, v in (info.limits or {}).items()},
        pending_order_id=str(info.pending_order_id or ""),
        backend_metadata=plain(dict(info.backend_metadata or {})),
        endpoints=[Endpoint(str(e["name"]), str(e["url"])) for e in info.endpoints or []],
    )


def offering_user(info: OfferingUserInfo) -> UpstreamOfferingUser:
    """The fields the agent holds of an offering user (its profile as upstream's `user_*`
    fields); upstream's others stay unset."""
    fields = {
        **{f"user_{name}": value for name, value in info.profile.items()},
        "uuid": info.uuid,
        "user_uuid": info.user_uuid,
        "username": info.username,
        "state": info.state,
        "user_username": info.user_username,
        "user_full_name": info.user_full_name,
        "user_email": info.user_email,
    }
    return UpstreamOfferingUser.from_dict({k: v for k, v in fields.items() if v})


class Translator:
    """Upstream's exceptions as the actors know them. Errors of this offering's Waldur become
    `WaldurError`/`WaldurUnreachable` (the actors' Waldur handling); any other HTTP error
    (a plugin's own remote: MUP, Waldur B) is the backend's."""

    def __init__(self, waldur_url: str) -> None:
        self.waldur_host = urlsplit(waldur_url).netloc

    def _ours(self, url: Any) -> bool:
        return urlsplit(str(url)).netloc == self.waldur_host

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        try:
            yield
        except upstream_errors.BackendNotReadyError as exc:
            raise ours.BackendNotReadyError(str(exc)) from exc
        except upstream_errors.DuplicateResourceError as exc:
            raise ours.DuplicateResourceError(str(exc)) from exc
        except upstream_errors.OfferingUserAccountLinkingRequiredError as exc:
            raise ours.OfferingUserAccountLinkingRequiredError(str(exc), exc.comment_url) from exc
        except upstream_errors.OfferingUserAdditionalValidationRequiredError as exc:
            error = ours.OfferingUserAdditionalValidationRequiredError(str(exc), exc.comment_url)
            raise error from exc
        except upstream_errors.ConfigurationError as exc:
            raise ours.ConfigurationError(str(exc)) from exc
        except upstream_errors.BackendError as exc:
            raise ours.BackendError(str(exc)) from exc
        except UnexpectedStatus as exc:
            path = urlsplit(str(exc.url)).path
            body = exc.content.decode(errors="replace")[:300]
            if self._ours(exc.url):
                raise WaldurError("", path, exc.status_code, body) from exc
            if exc.status_code in TRANSIENT:
                raise ours.BackendNotReadyError(f"HTTP {exc.status_code} from {path}") from exc
            raise ours.BackendError(f"HTTP {exc.status_code} from {path}: {body}") from exc
        except httpx.TransportError as exc:
            request = getattr(exc, "_request", None)
            where = urlsplit(str(request.url)).path if request is not None else "?"
            if request is not None and self._ours(request.url):
                raise WaldurUnreachable(f"{type(exc).__name__} on {where}") from exc
            raise ours.BackendNotReadyError(f"{type(exc).__name__} on {where}") from exc
