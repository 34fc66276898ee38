"""Safety limits: a resource's ceilings on stored bytes and objects, as RadosGW quota bodies.

A component with `enforce_limits: true` has its ceiling applied. The ceiling is the resource's
limit for the component when it has one (limit-based components, and Update orders), otherwise
the order's attribute: `storage_limit` / `object_limit` (the seed's offering options), or
`max_storage_limit` / `max_object_limit` (upstream's later names), and later the same names in
the options a customer changes on the resource. Ceilings are in Waldur units
and become backend units with the component's `unit_factor` (GB -> bytes).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from waldur_site_agent_actors.backends import units
from waldur_site_agent_actors.backends.exceptions import BackendError
from waldur_site_agent_actors.backends.structures import WaldurResource

STORAGE, OBJECTS = "storage", "objects"
ATTRIBUTES = {
    STORAGE: ("storage_limit", "max_storage_limit"),
    OBJECTS: ("object_limit", "max_object_limit"),
}
UNLIMITED = -1


class Ceilings(NamedTuple):
    """Backend units; None means no ceiling."""

    size: int | None = None
    objects: int | None = None

    def body(self) -> dict[str, Any]:
        """The quota body Croit takes: both dimensions always sent, -1 for none, so a ceiling
        dropped by an update is really lifted."""
        return {
            "enabled": self.size is not None or self.objects is not None,
            "maxSize": UNLIMITED if self.size is None else self.size,
            "maxObjects": UNLIMITED if self.objects is None else self.objects,
        }

    def with_metric(self, metric: str, value: int | None) -> Ceilings:
        return self._replace(size=value) if metric == STORAGE else self._replace(objects=value)


def enforced(components: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Component key -> metric, for the components whose ceilings are applied."""
    return {key: str(c["backend_name"]) for key, c in components.items() if c.get("enforce_limits")}


def _backend_value(key: str, value: Any, component: dict[str, Any]) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BackendError(f"safety limit {key} must be a number, got {value!r}")
    if value < 0:
        raise BackendError(f"safety limit {key} must not be negative, got {value}")
    factor = float(component.get("unit_factor") or 1)
    return units.limit_to_backend(value, factor) if value > 0 else None


def _named(values: dict[str, Any], metric: str) -> str | None:
    """The first of the metric's attribute names that `values` sets."""
    return next((n for n in ATTRIBUTES[metric] if values.get(n) is not None), None)


def wanted(resource: WaldurResource, components: dict[str, dict[str, Any]]) -> Ceilings:
    """The ceilings a new resource gets: its limits first, then its order attributes."""
    ceilings = Ceilings()
    for key, metric in enforced(components).items():
        if key in resource.limits:
            value = _backend_value(key, resource.limits[key], components[key])
        else:
            name = _named(resource.attributes, metric)
            value = (
                _backend_value(name, resource.attributes[name], components[key]) if name else None
            )
        ceilings = ceilings.with_metric(metric, value)
    return ceilings


def updated(
    current: Ceilings, limits: dict[str, float], components: dict[str, dict[str, Any]]
) -> Ceilings:
    """`current` with the ceilings of the components an Update order names replaced."""
    for key, metric in enforced(components).items():
        if key in limits:
            current = current.with_metric(metric, _backend_value(key, limits[key], components[key]))
    return current


def from_options(
    current: Ceilings,
    resource: WaldurResource,
    options: dict[str, Any],
    components: dict[str, dict[str, Any]],
) -> Ceilings:
    """`current` with the ceilings the changed resource options name replaced; a component
    whose ceiling is the resource's limit keeps it, as at creation."""
    for key, metric in enforced(components).items():
        name = _named(options, metric)
        if name and key not in resource.limits:
            value = _backend_value(name, options[name], components[key])
            current = current.with_metric(metric, value)
    return current


def read(quota: dict[str, Any] | None) -> Ceilings:
    """A quota as Croit lists it on a user (`userQuota`, `bucketQuota`)."""
    if not quota or not quota.get("enabled"):
        return Ceilings()
    size, objects = quota.get("maxSize", UNLIMITED), quota.get("maxObjects", UNLIMITED)
    return Ceilings(
        size=int(size) if isinstance(size, int) and size >= 0 else None,
        objects=int(objects) if isinstance(objects, int) and objects >= 0 else None,
    )
