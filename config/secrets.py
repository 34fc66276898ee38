"""Secrets in the config: which values they are, how they are masked in output and in logs."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import msgspec

from waldur_site_agent_actors.config.model import SECRET_KEYS, AgentConfig

MASK = "***"
_MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary words in log lines
# A credential in an HTTP Authorization header, as a library dumping its request prints it: a
# Basic header is base64 of `user:password`, which no configured value matches as written.
_AUTHORIZATION = re.compile(
    r"""(?i)(\bauthorization\b['"]?\s*[:=]\s*['"]?(?:basic|bearer|token)\s+)[^'"\s,}]+"""
)
SECRET_SUFFIXES = ("_token", "_password", "_secret", "_secret_key")


def is_secret_key(key: str) -> bool:
    key = key.lower()
    return key in SECRET_KEYS or key.endswith(SECRET_SUFFIXES)


def url_password(text: str) -> str:
    """The password of a `scheme://user:password@host/` URL; '' for anything else."""
    if "://" not in text:
        return ""
    try:
        return urlsplit(text).password or ""
    except ValueError:
        return ""


def mask_mapping(value: Any, secrets: Iterable[str] = ()) -> Any:
    """A copy of a plain (builtins-only) structure with every secret value replaced by `***`:
    under secret keys, and wherever one of `secrets` appears in another value (a token copied
    under a key not marked secret, a password inside a URL)."""
    masker = SecretFilter(secrets)

    def masked(item: Any) -> Any:
        if isinstance(item, dict):
            return {
                k: (MASK if is_secret_key(str(k)) and v not in (None, "") else masked(v))
                for k, v in item.items()
            }
        if isinstance(item, list):
            return [masked(v) for v in item]
        return masker.mask(item) if isinstance(item, str) else item

    return masked(value)


def secret_values(config: AgentConfig) -> set[str]:
    """Every secret string the config holds, for the log filter: values of secret keys and
    passwords inside URLs (a proxy's, say)."""
    found: set[str] = set()

    def walk(value: Any, key: str = "") -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, str(k))
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
        elif isinstance(value, str):
            for secret in (value if is_secret_key(key) else "", url_password(value)):
                if len(secret) >= _MIN_SECRET_LENGTH:
                    found.add(secret)

    walk(msgspec.to_builtins(config))
    return found


class SecretFilter(logging.Filter):
    """Masks known secret values in every record that passes through a handler.

    Attached to handlers (not loggers) so that records of every library logger are covered.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._pattern: re.Pattern[str] | None = None
        self.update(secrets)

    def update(self, secrets: Iterable[str]) -> None:
        values = sorted({s for s in secrets if len(s) >= _MIN_SECRET_LENGTH}, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, values))) if values else None

    def mask(self, text: str) -> str:
        text = _AUTHORIZATION.sub(rf"\g<1>{MASK}", text)
        return self._pattern.sub(MASK, text) if self._pattern else text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = self.mask(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.mask(record.exc_text)
        if masked != message or record.args:
            record.msg, record.args = masked, None
        return True
