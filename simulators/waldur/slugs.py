"""Slugs of customers, projects, offerings and resources, unique per kind as Mastermind keeps
them: the name lowercased with runs of anything but `a-z0-9` as one `-`, at most 50 characters,
and a number appended when another object of the kind has it already."""

from __future__ import annotations

import re

from waldur_site_agent_actors.simulators.waldur.state import State

MAX_LENGTH = 50
FALLBACK = "default"


def slugify(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:MAX_LENGTH]


def unique_slug(state: State, kind: str, name: str) -> str:
    base = slugify(name) or FALLBACK
    taken = {str(obj.get("slug")) for obj in state.all(kind)}
    slug, number = base, 1
    while slug in taken:
        suffix = f"-{number}"
        slug = base[: MAX_LENGTH - len(suffix)].rstrip("-") + suffix
        number += 1
    return slug
