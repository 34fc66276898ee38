"""Entry-point discovery, lazy: only the plugins a config names are ever imported.

Upstream imports every installed backend at start, so one plugin with a missing dependency breaks
every command; here an unrelated broken plugin is never touched.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any

BACKENDS = "waldur_site_agent.backends"
USERNAME_BACKENDS = "waldur_site_agent.username_management_backends"
COMPONENT_SCHEMAS = "waldur_site_agent.component_schemas"
SETTINGS_SCHEMAS = "waldur_site_agent.backend_settings_schemas"

# Names that changed upstream (the S3 plugin is `ceph_s3` now, `croit-s3`/`croit_s3` before);
# operators' configs use any of them and the installed plugin may register either.
ALIASES = {"croit-s3": "ceph_s3", "croit_s3": "ceph_s3", "ceph-s3": "ceph_s3"}


class UnknownPlugin(LookupError):
    def __init__(self, group: str, name: str, installed: list[str]) -> None:
        listing = ", ".join(installed) or "none"
        super().__init__(f"no plugin named {name!r} in {group} (installed: {listing})")
        self.group, self.name, self.installed = group, name, installed


class BrokenPlugin(ImportError):
    pass


@cache
def installed(group: str) -> dict[str, EntryPoint]:
    """Entry points of one group by name; reading metadata does not import the plugins."""
    return {ep.name: ep for ep in entry_points(group=group)}


def canonical(name: str) -> str:
    name = name.lower()
    return ALIASES.get(name, name)


def find(group: str, name: str) -> EntryPoint | None:
    """The entry point `name` means: case-insensitive on both sides; the exact name first, then
    the current name of an alias, then any older spelling of it."""
    points = {key.lower(): point for key, point in installed(group).items()}
    current = canonical(name)
    spellings = [name.lower(), current, *(old for old, new in ALIASES.items() if new == current)]
    return next((points[n] for n in spellings if n in points), None)


def load(group: str, name: str) -> Any:
    point = find(group, name)
    if point is None:
        raise UnknownPlugin(group, name, sorted(installed(group)))
    try:
        return point.load()
    except Exception as exc:
        raise BrokenPlugin(f"plugin {name!r} ({point.value}) failed to import: {exc}") from exc


def load_optional(group: str, name: str) -> Any | None:
    """A schema is optional for a plugin: absent means nothing to check."""
    return load(group, name) if find(group, name) is not None else None
