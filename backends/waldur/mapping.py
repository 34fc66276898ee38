"""Components here (source) to components of Waldur B (target), and usage back.

    target limit  = SUM over the sources feeding it of (source limit x factor)
    source usage  = SUM over the source's targets of (target usage / factor)

A component without `target_components` is passed through: same name, factor 1. One source may
feed several targets (fan-out: its usage comes back as the sum of what each target used, each
divided by its factor); several sources may feed one target (fan-in: their limits add up there,
and the target's usage comes back to each of them, divided by that source's factor).

Limits come back from B (`limit_sync_direction: b_to_a`) only where that is unambiguous: for a
source that alone feeds its targets, the amount its scarcest target grants, and only when B's
limits are no longer what the limit here maps to (so rounding never moves a limit here).
"""

from __future__ import annotations

from typing import Any

import msgspec

from waldur_site_agent_actors.backends import units
from waldur_site_agent_actors.backends.exceptions import ConfigurationError
from waldur_site_agent_actors.backends.waldur.settings import WaldurComponent


class ComponentMapper:
    def __init__(self, components: dict[str, dict[str, Any]]) -> None:
        self.targets: dict[str, dict[str, float]] = {}
        """Source component -> {target component: factor}."""
        for source, component in components.items():
            if float(component.get("unit_factor") or 1) != 1:
                raise ConfigurationError(
                    f"component {source!r}: unit_factor must be 1 for the waldur backend; "
                    "convert with target_components.<name>.factor"
                )
            own = {"target_components": component.get("target_components") or {}}
            try:
                parsed = msgspec.convert(own, WaldurComponent)
            except msgspec.ValidationError as exc:
                raise ConfigurationError(f"component {source!r}: {exc}") from exc
            mapped = {name: t.factor for name, t in parsed.target_components.items()}
            self.targets[source] = mapped or {source: 1.0}

    def limits_to_target(self, limits: dict[str, float]) -> dict[str, int]:
        """Limits here -> limits on Waldur B, rounded up (B never grants less than was sold)."""
        totals: dict[str, float] = {}
        for source, amount in limits.items():
            for target, factor in self.targets.get(source, {}).items():
                totals[target] = totals.get(target, 0.0) + float(amount) * factor
        return {target: units.limit_to_backend(total, 1.0) for target, total in totals.items()}

    def limits_to_source(
        self, target: dict[str, float], current: dict[str, float]
    ) -> dict[str, float]:
        """The sources in `current` whose limit B changed -> their limit according to B."""
        feeders: dict[str, int] = {}
        for targets in self.targets.values():
            for name in targets:
                feeders[name] = feeders.get(name, 0) + 1
        changed: dict[str, float] = {}
        for source, amount in current.items():
            targets = self.targets.get(source, {})
            if not targets or any(feeders[t] > 1 or t not in target for t in targets):
                continue
            expected = self.limits_to_target({source: amount})
            if all(float(target[t]) == expected[t] for t in targets):
                continue
            granted = min(units.limit_to_waldur(float(target[t]), f) for t, f in targets.items())
            if granted != float(amount):
                changed[source] = granted
        return changed

    def usage_to_source(self, usage: dict[str, float]) -> dict[str, float]:
        """Usage on Waldur B -> usage here, to Waldur's two decimals; unmapped targets dropped."""
        result: dict[str, float] = {}
        for source, targets in self.targets.items():
            present = [target for target in targets if target in usage]
            if present:
                total = sum(float(usage[t]) / targets[t] for t in present)
                result[source] = round(total, 2)
        return result

    def describe(self) -> str:
        return "; ".join(
            f"{source} -> " + ", ".join(f"{t} x{f:g}" for t, f in targets.items())
            for source, targets in self.targets.items()
        )
