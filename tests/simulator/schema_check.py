"""Every body the simulator serves, checked against the field set waldur-api-client declares for
its route: the keys of the model (and of each model nested in it) and no others, except keys
`render.ABSENT` leaves out as Mastermind does and the subset a `field=` selection asks for; and no
null where the schema allows none."""

from __future__ import annotations

import json
from typing import Any

from waldur_site_agent_actors.simulators.waldur import WaldurSimulator, schema
from waldur_site_agent_actors.simulators.waldur.http import Request, Response
from waldur_site_agent_actors.simulators.waldur.render import ABSENT

ANSWERS = schema.response_models()
# Where Mastermind's own tests show a body the schema does not declare (docs/simulator.md gaps).
BEYOND_SCHEMA = {
    # placing an option-change order answers 200 with it; the schema's 200 body is a Status
    ("POST /api/marketplace-resources/{uuid}/update_options/", "order_uuid"),
}


class Bodies:
    """Wraps each route of `sim` to keep what it answered (a JSON copy, taken at once)."""

    def __init__(self, sim: WaldurSimulator) -> None:
        self.served: list[tuple[str, int, Any, list[str]]] = []
        for route in sim.app.router.routes():
            route.handler = self._recording(route.key, route.handler)

    def _recording(self, key, handler):
        def recorded(req: Request) -> Response:
            response = handler(req)
            body = json.loads(json.dumps(response.body))
            self.served.append((key, response.status, body, req.params("field")))
            return response

        return recorded

    def routes(self) -> set[str]:
        """The routes that answered with a body their client model declares."""
        return {key for key, status, _, _ in self.served if model_of(key, status)}

    def mismatches(self) -> list[str]:
        found = []
        for key, status, body, selected in self.served:
            model = model_of(key, status)
            if model is None:
                continue
            for item in body if isinstance(body, list) else [body]:
                if isinstance(item, dict):
                    item = {k: v for k, v in item.items() if (key, k) not in BEYOND_SCHEMA}
                found += [f"{key} ({model}){m}" for m in differences(model, item, bool(selected))]
        return sorted(set(found))


def model_of(key: str, status: int) -> str | None:
    return ANSWERS.get(key, {}).get(status) if key.split()[1].startswith("/api/") else None


def differences(model: str, body: Any, selected: bool = False, at: str = "") -> list[str]:
    if not isinstance(body, dict):
        return [f"{at}: {type(body).__name__}, not an object"]
    fields = schema.fields(model)
    wanted = {f.key for f in fields}
    found = []
    extra = set(body) - wanted
    missing = set() if selected else wanted - set(body) - ABSENT.get(model, frozenset())
    if extra:
        found.append(f"{at}: keys not in the schema: {sorted(extra)}")
    if missing:
        found.append(f"{at}: keys missing: {sorted(missing)}")
    nulls = [f.key for f in fields if f.key in body and body[f.key] is None and not nullable(f)]
    if nulls:
        found.append(f"{at}: null where the schema allows none: {nulls}")
    for field in fields:
        inner = schema.nested(field)
        value = body.get(field.key)
        if inner is None or value is None:
            continue
        for n, item in enumerate(value if isinstance(value, list) else [value]):
            found += differences(inner, item, at=f"{at}.{field.key}[{n}]")
    return found


def nullable(field: schema.Field) -> bool:
    return type(None) in field.types or Any in field.types
