"""Errors a handler raises; the server renders them exactly as DRF would."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status, self.body, self.headers = status, body, headers or {}


def detail(status: int, message: str) -> ApiError:
    return ApiError(status, {"detail": message})


def not_found(model: str) -> ApiError:
    return detail(404, f"No {model} matches the given query.")


def forbidden() -> ApiError:
    return detail(403, "You do not have permission to perform this action.")


def invalid(field: str, message: str) -> ApiError:
    """A serializer error on one field: `{"field": ["message"]}`."""
    return ApiError(400, {field: [message]})


def required(field: str) -> ApiError:
    return invalid(field, "This field is required.")


def wrong_state(valid: list[str] | tuple[str, ...]) -> ApiError:
    return detail(409, f"Valid states for operation: {', '.join(valid)}.")
