"""Waldur's components (source) onto the backend's own (target), and usage back.

    target limit  = SUM over the sources feeding it of (source limit x factor)
    source usage  = SUM over the source's targets of (target usage / factor)

A component with `target_components` feeds each of them with its own factor (upstream's key,
read by the SLURM plugin, whose targets are TRES, and by the federation, whose targets are
Waldur B's components); it must keep `unit_factor` 1, since the factors say it all. A component
without it is passed through: same name, its `unit_factor` as the factor. One source may feed
several targets (fan-out: its usage comes back as the sum of what each target used, each divided
by its factor); several sources may feed one target (fan-in: their limits add up there, and the
target's usage comes back to each of them, divided by that source's factor).

A limit read back from the backend maps onto a source only where that is unambiguous: a source
that alone feeds its targets gets the amount its scarcest target grants.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from waldur_site_agent_actors.backends import units
from waldur_site_agent_actors.backends.exceptions import ConfigurationError


class TargetComponent(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    factor: Annotated[float, Meta(gt=0)] = 1.0
    """Target amount = source amount x factor."""


class MappedComponent(msgspec.Struct, kw_only=True):
    """The keys of a `backend_components` entry this module reads (the others are ignored)."""

    unit_factor: Annotated[float, Meta(gt=0)] | None = None
    target_components: dict[str, TargetComponent] | None = None


class ComponentMapper:
    def __init__(self, components: dict[str, dict[str, Any]]) -> None:
        self.targets: dict[str, dict[str, float]] = {}
        """Source component -> {target component: factor}."""
        for source, component in components.items():
            try:
                parsed = msgspec.convert(component, MappedComponent)
            except msgspec.ValidationError as exc:
                raise ConfigurationError(f"component {source!r}: {exc}") from exc
            unit_factor = parsed.unit_factor or 1.0
            mapped = {name: t.factor for name, t in (parsed.target_components or {}).items()}
            if mapped and unit_factor != 1:
                raise ConfigurationError(
                    f"component {source!r}: unit_factor must be 1 with target_components; "
                    "convert with target_components.<name>.factor"
                )
            self.targets[source] = mapped or {source: unit_factor}
        self.feeders: dict[str, int] = {}
        """Target -> how many sources feed it."""
        for targets in self.targets.values():
            for name in targets:
                self.feeders[name] = self.feeders.get(name, 0) + 1

    @property
    def is_passthrough(self) -> bool:
        """True when no component names `target_components`."""
        return all(list(targets) == [source] for source, targets in self.targets.items())

    def source_of(self, target: str) -> list[str]:
        """The sources feeding `target`."""
        return [source for source, targets in self.targets.items() if target in targets]

    def limits_to_target(self, limits: Mapping[str, float]) -> dict[str, int]:
        """Source limits -> target limits, rounded up (the backend never grants less than was
        sold); sources without a mapping are left out."""
        totals: dict[str, float] = {}
        for source, amount in limits.items():
            for target, factor in self.targets.get(source, {}).items():
                totals[target] = totals.get(target, 0.0) + float(amount) * factor
        return {target: units.limit_to_backend(total, 1.0) for target, total in totals.items()}

    def limits_from_target(self, target: Mapping[str, float]) -> dict[str, float]:
        """Target limits -> the limit of each source that alone feeds targets all present: what
        its scarcest target grants, to Waldur's two decimals."""
        result: dict[str, float] = {}
        for source, targets in self.targets.items():
            if all(t in target and self.feeders[t] == 1 for t in targets):
                result[source] = min(
                    units.limit_to_waldur(float(target[t]), f) for t, f in targets.items()
                )
        return result

    def limits_to_source(
        self, target: Mapping[str, float], current: Mapping[str, float]
    ) -> dict[str, float]:
        """The sources in `current` whose limit the target side changed -> their limit
        according to it; a target limit that is what `current` maps to changes nothing, so
        rounding never moves a source limit."""
        granted = self.limits_from_target(target)
        changed: dict[str, float] = {}
        for source, amount in current.items():
            if source not in granted:
                continue
            expected = self.limits_to_target({source: amount})
            if all(float(target[t]) == expected[t] for t in self.targets[source]):
                continue
            if granted[source] != float(amount):
                changed[source] = granted[source]
        return changed

    def usage_in_source_units(self, usage: Mapping[str, float]) -> dict[str, float]:
        """Target usage -> source usage, unrounded; targets no source feeds are dropped, and
        a source none of whose targets is in `usage` is left out."""
        result: dict[str, float] = {}
        for source, targets in self.targets.items():
            present = [target for target in targets if target in usage]
            if present:
                result[source] = sum(float(usage[t]) / targets[t] for t in present)
        return result

    def usage_to_source(self, usage: Mapping[str, float]) -> dict[str, float]:
        """Target usage -> source usage, to Waldur's two decimals."""
        return {k: round(v, 2) for k, v in self.usage_in_source_units(usage).items()}

    def describe(self) -> str:
        return "; ".join(
            f"{source} -> " + ", ".join(f"{t} x{f:g}" for t, f in targets.items())
            for source, targets in self.targets.items()
        )
