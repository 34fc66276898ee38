"""What an S3 management API (Croit's, or RadosGW's Admin Ops) refuses, and how a request to one
fails, for both clients."""

from __future__ import annotations

import logging
import time
from typing import Any

import requests

from waldur_site_agent_actors.backends.exceptions import BackendError, BackendNotReadyError


class AdminError(BackendError):
    """The API answered with an error; the text is its own message, with the request, and
    never holds a credential."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class NotFound(AdminError):
    """No such user (or key)."""


class Conflict(AdminError):
    """The user, its e-mail or the access key exists already."""


def send(
    session: requests.Session,
    system: str,
    api: str,
    method: str,
    url: str,
    shown: str,
    timeout: float,
    log: logging.Logger,
    **kwargs: Any,
) -> requests.Response:
    """One request of either client, its transport failures said in the operator's terms:
    `system` (Croit, RadosGW) at `api`, the request `shown` by method and path only."""
    started = time.monotonic()
    try:
        response = session.request(method, url, timeout=(timeout, timeout), **kwargs)
    except requests.exceptions.SSLError:
        raise AdminError(
            f"TLS connection to {system} at {api} failed: its certificate is not trusted "
            "(set ca_bundle to the CA's PEM file, or verify_ssl: false)"
        ) from None
    except requests.Timeout:
        raise BackendNotReadyError(
            f"{system} did not answer {method} {shown} within {timeout:g} s"
        ) from None
    except requests.ConnectionError:
        # The exception's text would repeat the URL with its query: not passed on.
        raise BackendNotReadyError(f"cannot connect to {system} at {api}") from None
    elapsed = (time.monotonic() - started) * 1000
    log.debug("%s %s -> %d (%.0f ms)", method, shown, response.status_code, elapsed)
    return response
