"""`diagnostics`: can each offering reach its Waldur and its backend? One line per check.

It only looks: plugins are told (`READ_ONLY_VARIABLE`) to create nothing, so checking a fresh
site leaves no file behind. A check that cannot run because an earlier one failed is skipped,
so each failure is said once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

from waldur_site_agent_actors.actors.plugins import make_backend
from waldur_site_agent_actors.agent import process
from waldur_site_agent_actors.backends.base import READ_ONLY_VARIABLE
from waldur_site_agent_actors.config import AgentConfig, Offering

TIMEOUT = (5.0, 30.0)


@dataclass
class Tally:
    passed: int = 0
    failed: list[str] = field(default_factory=list)

    def ok(self, name: str, detail: str) -> None:
        self.passed += 1
        print(f"  {name}: {detail}")

    def fail(self, name: str, reason: str, what: str = "") -> None:
        self.failed.append(f"{name} {what}".strip())
        print(f"  {name}: {what + ' ' if what else ''}FAILED: {reason}")


def waldur_get(offering: Offering, path: str, params: dict[str, Any] | None = None) -> Any:
    base = offering.waldur_api_url.rstrip("/")
    response = requests.get(
        f"{base}/{path.lstrip('/')}",
        params=params,
        headers={"Authorization": f"Token {offering.waldur_api_token}"},
        timeout=TIMEOUT,
        verify=offering.verify_ssl,
    )
    response.raise_for_status()
    return response.json()


def http_reason(exc: requests.RequestException) -> str:
    """What went wrong talking to Waldur, in a sentence: no exception class names, no URL query."""
    request = exc.request
    where = urlsplit(request.url or "") if request is not None else None
    place = f"{where.scheme}://{where.netloc}{where.path}" if where else "Waldur"
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        status = exc.response.status_code
        hint = {401: "the token is refused", 403: "the token may not see it"}.get(status, "")
        return f"HTTP {status} from {place}" + (f": {hint}" if hint else "")
    if isinstance(exc, requests.exceptions.SSLError):
        return f"TLS failed with {place} (verify_ssl, or the CA bundle)"
    if isinstance(exc, requests.Timeout):
        return f"no answer from {place} within {TIMEOUT[1]:g} s"
    if isinstance(exc, requests.ConnectionError):
        return f"cannot connect to {place}"
    return f"request to {place} failed"


def check_offering(offering: Offering, config: AgentConfig, tally: Tally | None = None) -> bool:
    """Waldur, the offering in it, and each backend the offering names; True when all passed."""
    tally = tally if tally is not None else Tally()
    failed_before = len(tally.failed)
    print(f"offering {offering.name!r} ({offering.waldur_offering_uuid})")
    try:
        me = waldur_get(offering, "users/me/", {"field": ["username", "uuid"]})
        tally.ok("waldur", f"reachable as {me.get('username', '?')}")
        try:
            details = waldur_get(
                offering,
                f"marketplace-provider-offerings/{offering.waldur_offering_uuid}/",
                {"field": ["name", "state", "components"]},
            )
            components = ", ".join(c.get("type", "?") for c in details.get("components", []))
            tally.ok(
                "offering",
                f"{details.get('name')!r} state={details.get('state')} components=[{components}]",
            )
        except requests.RequestException as exc:
            tally.fail("offering", http_reason(exc))
    except requests.RequestException as exc:
        tally.fail("waldur", http_reason(exc))
        print("  offering: skipped (Waldur not reached)")
    for name in sorted({offering.backend_for(r) for r in ("order", "report", "membership")} - {""}):
        check_backend(name, offering, config, tally)
    return len(tally.failed) == failed_before


def check_backend(name: str, offering: Offering, config: AgentConfig, tally: Tally) -> None:
    label = f"backend {name}"
    try:
        # Made as the backend actor makes it: an upstream plugin behind its adapter.
        backend = make_backend(name, offering, config)
        reachable = backend.ping(raise_exception=True)
    except Exception as exc:  # a plugin's failure, whatever its kind, is this check's result
        reachable, reason = False, str(exc) or type(exc).__name__
    else:
        reason = "not reachable"
    if not reachable:
        tally.fail(label, reason, "ping")
        print(f"  {label}: checks skipped (not reachable)")
        return
    tally.ok(label, "ping ok")
    try:
        healthy = backend.diagnostics()
    except Exception as exc:
        tally.fail(label, str(exc) or type(exc).__name__, "checks")
        return
    if healthy:
        tally.ok(label, "checks ok (details in the log)")
    else:
        tally.fail(label, "see the log above", "checks")


def run_diagnostics(config: AgentConfig) -> bool:
    process.prepare(config)
    before = os.environ.get(READ_ONLY_VARIABLE)
    os.environ[READ_ONLY_VARIABLE] = "1"
    tally = Tally()
    try:
        for offering in config.offerings:
            check_offering(offering, config, tally)
    finally:  # only this command looks without touching; whatever runs next may write
        if before is None:
            del os.environ[READ_ONLY_VARIABLE]
        else:
            os.environ[READ_ONLY_VARIABLE] = before
    total = tally.passed + len(tally.failed)
    verdict = (
        f"{len(tally.failed)} failed: {', '.join(tally.failed)}" if tally.failed else "all passed"
    )
    print(f"diagnostics: {total} check(s), {verdict}")
    return not tally.failed
