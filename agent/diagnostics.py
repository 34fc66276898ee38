"""`diagnostics`: can each offering reach its Waldur and its backend? Prints a report."""

from __future__ import annotations

import logging
from typing import Any

import requests

from waldur_site_agent_actors.agent import process
from waldur_site_agent_actors.backends.discovery import create_backend
from waldur_site_agent_actors.config import AgentConfig, Offering

TIMEOUT = (5.0, 30.0)


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


def check_offering(offering: Offering) -> bool:
    healthy = True
    print(f"offering {offering.name!r} ({offering.waldur_offering_uuid})")
    try:
        me = waldur_get(offering, "users/me/", {"field": ["username", "uuid"]})
        print(f"  waldur: reachable as {me.get('username', '?')}")
        details = waldur_get(
            offering,
            f"marketplace-provider-offerings/{offering.waldur_offering_uuid}/",
            {"field": ["name", "state", "components"]},
        )
        components = ", ".join(c.get("type", "?") for c in details.get("components", []))
        print(
            f"  offering: {details.get('name')!r} state={details.get('state')} "
            f"components=[{components}]"
        )
    except requests.RequestException as exc:
        print(f"  waldur: FAILED: {exc}")
        healthy = False
    for name in sorted({offering.backend_for(r) for r in ("order", "report", "membership")} - {""}):
        try:
            backend = create_backend(name, offering)
            reachable = backend.ping()
            print(f"  backend {name}: ping {'ok' if reachable else 'FAILED'}")
            healthy = backend.diagnostics() and reachable and healthy
        except Exception as exc:
            print(f"  backend {name}: FAILED: {exc}")
            healthy = False
    return healthy


def run_diagnostics(config: AgentConfig) -> bool:
    process.prepare(config)
    logging.getLogger("agent.diagnostics").debug(
        "diagnostics for %d offering(s)", len(config.offerings)
    )
    results = [check_offering(offering) for offering in config.offerings]
    return all(results)
