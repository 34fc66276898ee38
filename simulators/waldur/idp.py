"""A stand-in OIDC identity provider for `Bearer` authentication: the client-credentials grant
the agent uses (`oidc_token_url`, `oidc_client_id`, `oidc_client_secret`). Clients come from the
scenario's `oidc_clients`; issued tokens live in memory only, as an IdP's sessions would."""

from __future__ import annotations

import secrets
import threading
import time
from urllib.parse import parse_qs

from waldur_site_agent_actors.simulators.waldur.errors import ApiError
from waldur_site_agent_actors.simulators.waldur.http import Request, Response, Router
from waldur_site_agent_actors.simulators.waldur.state import Obj, State

TOKEN_PATH = "/_idp/token/"  # noqa: S105 - a URL path
LIFETIME = 300


class TokenIssuer:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[str, float]] = {}

    def issue(self, user_uuid: str, lifetime: int = LIFETIME) -> str:
        token = secrets.token_hex(24)
        with self._lock:
            self._tokens[token] = (user_uuid, time.monotonic() + lifetime)
        return token

    def user(self, state: State, token: str) -> Obj | None:
        """The token's user while it is valid; None when unknown or expired."""
        with self._lock:
            found = self._tokens.get(token)
        if found is None or found[1] < time.monotonic():
            return None
        return state.get("users", found[0])


def register(router: Router, issuer: TokenIssuer) -> None:
    def token(req: Request) -> Response:
        form = {k: v[-1] for k, v in parse_qs(req.body.decode(errors="replace")).items()}
        if form.get("grant_type") != "client_credentials":
            raise ApiError(400, {"error": "unsupported_grant_type"})
        client = req.state.first("oidc_clients", client_id=form.get("client_id"))
        if client is None or client["client_secret"] != form.get("client_secret"):
            raise ApiError(401, {"error": "invalid_client"})
        access = issuer.issue(client["user"])
        return Response(
            200, {"access_token": access, "token_type": "Bearer", "expires_in": LIFETIME}
        )

    router.add("POST", TOKEN_PATH, token, public=True)
