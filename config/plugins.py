"""Entry-point discovery, lazy: only the plugins a config names are ever imported.

Upstream imports every installed backend at start, so one plugin with a missing dependency breaks
every command; here an unrelated broken plugin is never touched.

One name may be registered by several distributions (this agent's `mup` and upstream's
`waldur-site-agent-mup`, both installed). Which one runs is decided here, by one rule that does
not depend on the order site-packages is listed in (docs/plugins.md, "Same-named plugins"):

1. the distribution the offering pins in `plugin_distributions`;
2. else this agent's own plugin, so installing a package never changes what an existing
   offering runs;
3. else the first distribution by name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any

BACKENDS = "waldur_site_agent.backends"
USERNAME_BACKENDS = "waldur_site_agent.username_management_backends"
COMPONENT_SCHEMAS = "waldur_site_agent.component_schemas"
SETTINGS_SCHEMAS = "waldur_site_agent.backend_settings_schemas"

OWN_DISTRIBUTION = "waldur-site-agent-actors"

# Names that changed upstream (the S3 plugin is `ceph_s3` now, `croit-s3`/`croit_s3` before);
# operators' configs use any of them and the installed plugin may register either.
ALIASES = {"croit-s3": "ceph_s3", "croit_s3": "ceph_s3", "ceph-s3": "ceph_s3"}

PINNED, OWN, FIRST, ONLY = (
    "pinned in plugin_distributions",
    "this agent's own plugin wins",
    "first distribution by name",
    "the only one installed",
)


def distribution_key(name: str) -> str:
    """Distribution names compare as pip compares them (`Foo_Bar.baz` is `foo-bar-baz`)."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Candidate:
    """One distribution's registration of a name."""

    point: EntryPoint
    distribution: str
    version: str

    def __str__(self) -> str:
        return f"{self.distribution} {self.version}".strip()

    def provides(self, distribution: str) -> bool:
        return distribution_key(self.distribution) == distribution_key(distribution)


@dataclass(frozen=True)
class Choice:
    """Which of the candidates for a name runs, and by which step of the rule."""

    chosen: Candidate
    candidates: tuple[Candidate, ...]
    rule: str

    @property
    def point(self) -> EntryPoint:
        return self.chosen.point

    def describe(self) -> str:
        """`'mup' from waldur-site-agent-mup 1.0.7 (pinned ...; candidates: ...)`."""
        text = f"{self.point.name!r} ({self.point.value}) from {self.chosen}"
        if len(self.candidates) > 1:
            others = ", ".join(str(c) for c in self.candidates)
            text += f", {self.rule}; candidates: {others}"
        return text


class UnknownPlugin(LookupError):
    def __init__(self, group: str, name: str, installed: list[str]) -> None:
        listing = ", ".join(installed) or "none"
        super().__init__(f"no plugin named {name!r} in {group} (installed: {listing})")
        self.group, self.name, self.installed = group, name, installed


class UnknownDistribution(LookupError):
    """A pin names a distribution that does not provide the plugin."""

    def __init__(self, name: str, distribution: str, candidates: tuple[Candidate, ...]) -> None:
        listing = ", ".join(str(c) for c in candidates)
        super().__init__(
            f"plugin {name!r} is not provided by {distribution!r} (provided by: {listing})"
        )
        self.name, self.distribution, self.candidates = name, distribution, candidates


class BrokenPlugin(ImportError):
    pass


UPSTREAM_CORE = "waldur_site_agent.backend.backends"
"""Upstream's module of `BaseBackend` and `AbstractUsernameManagementBackend`."""


def derives_from_upstream(cls: Any, base: str) -> bool:
    """Whether `cls` subclasses upstream's class `base`, told by name so nothing of upstream is
    imported here (a loaded upstream plugin has imported it already)."""
    return isinstance(cls, type) and any(
        (klass.__module__, klass.__qualname__) == (UPSTREAM_CORE, base) for klass in cls.__mro__
    )


def _candidate(point: EntryPoint) -> Candidate:
    dist = point.dist
    return Candidate(
        point=point,
        distribution=dist.name if dist is not None else "",
        version=dist.version if dist is not None else "",
    )


@cache
def installed(group: str) -> dict[str, tuple[Candidate, ...]]:
    """Every registration of a group by name, one per distribution (the first on `sys.path`
    when a distribution is found twice), ordered by distribution name. Reading metadata does
    not import the plugins."""
    found: dict[str, dict[str, Candidate]] = {}
    for point in entry_points(group=group):
        candidate = _candidate(point)
        found.setdefault(point.name, {}).setdefault(
            distribution_key(candidate.distribution), candidate
        )
    return {
        name: tuple(sorted(by_dist.values(), key=lambda c: distribution_key(c.distribution)))
        for name, by_dist in found.items()
    }


def canonical(name: str) -> str:
    name = name.lower()
    return ALIASES.get(name, name)


def candidates(group: str, name: str) -> tuple[Candidate, ...]:
    """The registrations `name` means: case-insensitive on both sides; the exact name first,
    then the current name of an alias, then any older spelling of it."""
    points = {key.lower(): found for key, found in installed(group).items()}
    current = canonical(name)
    spellings = [name.lower(), current, *(old for old, new in ALIASES.items() if new == current)]
    return next((points[n] for n in spellings if n in points), ())


def choose(group: str, name: str, pinned: str | None = None) -> Choice:
    found = candidates(group, name)
    if not found:
        raise UnknownPlugin(group, name, sorted(installed(group)))
    if pinned:
        chosen = next((c for c in found if c.provides(pinned)), None)
        if chosen is None:
            raise UnknownDistribution(name, pinned, found)
        return Choice(chosen, found, PINNED)
    if len(found) == 1:
        return Choice(found[0], found, ONLY)
    own = next((c for c in found if c.provides(OWN_DISTRIBUTION)), None)
    if own is not None:
        return Choice(own, found, OWN)
    return Choice(found[0], found, FIRST)


def find(group: str, name: str, pinned: str | None = None) -> EntryPoint | None:
    """The entry point the rule picks for `name`, or None when nothing provides it."""
    try:
        return choose(group, name, pinned).point
    except (UnknownPlugin, UnknownDistribution):
        return None


def load_point(name: str, point: EntryPoint) -> Any:
    try:
        return point.load()
    except Exception as exc:
        raise BrokenPlugin(f"plugin {name!r} ({point.value}) failed to import: {exc}") from exc


def load(group: str, name: str, pinned: str | None = None) -> Any:
    return load_point(name, choose(group, name, pinned).point)


def load_optional(group: str, name: str, distribution: str) -> Any | None:
    """A schema is optional for a plugin: absent means nothing to check. Only the schema of the
    distribution whose backend runs applies: another package's `mup` schema describes another
    package's settings."""
    point = next((c.point for c in candidates(group, name) if c.provides(distribution)), None)
    return load_point(name, point) if point is not None else None
