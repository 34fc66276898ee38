"""S3 user names: `{prefix}{organisation}{sep}{project}{sep}{first 8 hex of the resource uuid}`.

Slugs are cleaned (lower case, runs of anything but letters and digits become one `_`, no
leading or trailing `_`), and when the name would be too long the organisation and project
parts are shortened, never the prefix or the uuid part that makes the name unique.
"""

from __future__ import annotations

import re

from waldur_site_agent_actors.backends.commands import validate_name
from waldur_site_agent_actors.backends.structures import WaldurResource

UUID_PART = 8
S3_USER_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]*")


def clean_slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def room(prefix: str, separator: str, max_length: int) -> int:
    """Characters left for the organisation and project parts of a name."""
    return max_length - len(prefix) - UUID_PART - 2 * len(separator)


def share(parts: list[str], budget: int) -> list[str]:
    """Shorten the parts to fit `budget` characters together; a short part leaves its unused
    share to the longer one."""
    first, second = parts
    half = budget // 2
    if len(first) <= half:
        return [first, second[: budget - len(first)]]
    if len(second) <= budget - half:
        return [first[: budget - len(second)], second]
    return [first[:half], second[: budget - half]]


def project_user_name(project_slug: str, prefix: str, max_length: int) -> str:
    """By project slug (`account_name_generation_policy: project_slug`): the prefix and the
    cleaned slug, with room left for a `-<number>` suffix."""
    name = prefix + (clean_slug(project_slug) or "project")[: max_length - len(prefix) - 4]
    validate_name(name, what="S3 user name", pattern=S3_USER_NAME, max_length=max_length)
    return name


def s3_user_name(resource: WaldurResource, prefix: str, separator: str, max_length: int) -> str:
    organisation = clean_slug(resource.customer_slug or resource.customer_name) or "org"
    project = clean_slug(resource.project_slug or resource.project_name) or "project"
    unique = resource.uuid.replace("-", "")[:UUID_PART].lower()
    budget = room(prefix, separator, max_length)
    parts = [p.strip("_") or "x" for p in share([organisation, project], budget)]
    name = separator.join([prefix + parts[0], parts[1], unique])
    validate_name(name, what="S3 user name", pattern=S3_USER_NAME, max_length=max_length)
    return name
