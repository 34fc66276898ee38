"""A small HTTP client for the consumer side, for the demo, benchmarks and tests: it calls the
same public endpoints a user of a real Waldur would (no back door)."""

from __future__ import annotations

from typing import Any

import requests


class ConsumerClient:
    def __init__(self, api_url: str, token: str, timeout: float = 10.0) -> None:
        self.api_url = api_url.rstrip("/") + "/"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"
        self.timeout = timeout

    def _call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        url = path if path.startswith("http") else self.api_url + path
        response = self.session.request(
            method, url, json=body, params=params or None, timeout=self.timeout
        )
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path}: HTTP {response.status_code}: {response.text}")
        return response.json() if response.content else None

    def order(
        self,
        offering_url: str,
        project_url: str,
        limits: dict[str, int] | None = None,
        *,
        plan_url: str | None = None,
        name: str | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Place a Create order; returns the OrderDetails (its `marketplace_resource_uuid`)."""
        body: dict[str, Any] = {
            "offering": offering_url,
            "project": project_url,
            "limits": limits or {},
            "attributes": {**(attributes or {}), **({"name": name} if name else {})},
        }
        if plan_url:
            body["plan"] = plan_url
        return dict(self._call("POST", "marketplace-orders/", body))

    def update_limits(self, resource_uuid: str, limits: dict[str, int]) -> str:
        body = {"limits": limits}
        answer = self._call("POST", f"marketplace-resources/{resource_uuid}/update_limits/", body)
        return str(answer["order_uuid"])

    def update_options(self, resource_uuid: str, options: dict[str, Any]) -> str | None:
        """The order that carries the change, or None when the options were set directly."""
        body = {"options": options}
        answer = self._call("POST", f"marketplace-resources/{resource_uuid}/update_options/", body)
        return answer.get("order_uuid")

    def terminate(self, resource_uuid: str) -> str:
        answer = self._call("POST", f"marketplace-resources/{resource_uuid}/terminate/", {})
        return str(answer["order_uuid"])

    def order_details(self, order_uuid: str) -> dict[str, Any]:
        return dict(self._call("GET", f"marketplace-orders/{order_uuid}/"))

    def resource(self, resource_uuid: str) -> dict[str, Any]:
        return dict(self._call("GET", f"marketplace-resources/{resource_uuid}/"))

    def user_uuid(self, username: str) -> str:
        return str(self._call("GET", "users/", username=username)[0]["uuid"])

    def add_user(self, project_uuid: str, user_uuid: str, role: str = "PROJECT.MEMBER") -> None:
        body = {"user": user_uuid, "role": role}
        self._call("POST", f"projects/{project_uuid}/add_user/", body)

    def remove_user(self, project_uuid: str, user_uuid: str, role: str | None = None) -> None:
        body = {"user": user_uuid, **({"role": role} if role else {})}
        self._call("POST", f"projects/{project_uuid}/delete_user/", body)

    def close(self) -> None:
        self.session.close()
