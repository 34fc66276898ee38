"""What Waldur is told of a failed operation (an order, a resource, an import, a key), by
`expose_backend_error_details` as upstream 1.0.7 has it: on, the exception's text and traceback;
off, no traceback, and the text only of a `BackendError` (a refusal the backend worded for the
user), any other exception being internal and replaced by a sentence that says where to look."""

from __future__ import annotations

import traceback

from waldur_site_agent_actors.backends.exceptions import BackendError

HIDDEN = "The site agent met an internal error; the service provider finds it in the agent's log."


def said(exc: BaseException) -> str:
    """The exception's own text, as the agent's log shows it."""
    return str(exc) or type(exc).__name__


def waldur_error(exc: BaseException, expose: bool) -> tuple[str, str]:
    """(error_message, error_traceback) for Waldur."""
    if expose:
        return said(exc), "".join(traceback.format_exception(exc))
    return (said(exc) if isinstance(exc, BackendError) else HIDDEN), ""
