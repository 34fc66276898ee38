"""What a MUP registration request says about a user: Waldur's profile in MUP's vocabulary.

The core hands the plugin the profile attributes the offering exposes (`user_attributes`:
first and last name, gender, birth date, country of residence, organization and its type,
personal title) and the user's CUID (`user_cuids`, their MyAccessID). Each becomes what MUP
expects, as upstream's plugin maps it; an attribute Waldur does not give (not exposed, or not
filled in) falls back to the offering's `default_user_*` setting.
"""

from __future__ import annotations

import functools
from datetime import date
from typing import Any

from waldur_site_agent_actors.backends.mup.settings import MupSettings

Obj = dict[str, Any]

GENDERS: dict[object, str] = {
    # ISO/IEC 5218 codes, as upstream maps them
    0: "Don't want to reply",
    1: "Male",
    2: "Female",
    9: "Don't want to reply",
    # Waldur's own values (`GenderEnum`)
    "male": "Male",
    "female": "Female",
    "unknown": "Don't want to reply",
}
INSTITUTION_TYPES = {
    "university": "Academia",
    "research-institution": "Academia",
    "research": "Academia",
    "company": "Industry",
    "government": "Public Administration",
}
SCHAC_TYPE = "urn:schac:homeOrganizationType:"


def gender(value: Any) -> str | None:
    """MUP's gender for Waldur's: a code or a name; anything else MUP calls "Other"."""
    if value is None or value == "":
        return None
    key = value.lower() if isinstance(value, str) else value
    return GENDERS.get(key, "Other")


def birth_year(value: Any) -> int | None:
    """The year of a birth date (`YYYY-MM-DD`, or a date)."""
    if isinstance(value, date):
        return value.year
    if isinstance(value, str) and len(value) >= 4 and value[:4].isdigit():
        return int(value[:4])
    return None


def country(code: Any) -> str | None:
    """The English name of an ISO 3166 alpha-2 code (`PT` -> `Portugal`); an unknown code is
    passed as it is, so nothing Waldur said is lost."""
    if not isinstance(code, str) or not code.strip():
        return None
    return _country_names().get(code.strip().upper(), code.strip())


@functools.cache
def _country_names() -> dict[str, str]:
    import pycountry  # loaded on the first registration, not at start

    return {c.alpha_2: c.name for c in pycountry.countries}


def institution_type(value: Any) -> str | None:
    """MUP's institution type for a SCHAC home organization type (a URN or its last part)."""
    if not isinstance(value, str) or not value.strip():
        return None
    kind = value.strip()
    if kind.startswith(SCHAC_TYPE):
        kind = kind.rsplit(":", 1)[-1]
    return INSTITUTION_TYPES.get(kind.lower(), "Other")


def registration(username: str, email: str, attributes: Obj, settings: MupSettings) -> Obj:
    """The body of `POST /api/user/` for a user MUP does not know."""
    first, _, last = str(attributes.get("full_name") or "").strip().partition(" ")
    first = str(attributes.get("first_name") or first or username)
    last = str(attributes.get("last_name") or last.strip() or first)
    s = settings
    return {
        "username": username,
        "email": email,
        "first_name": first,
        "last_name": last,
        "research_fields": [s.default_research_field],
        "salutation": attributes.get("personal_title") or s.default_user_salutation,
        "gender": gender(attributes.get("gender")) or s.default_user_gender,
        "year_of_birth": birth_year(attributes.get("birth_date")) or s.default_user_birth_year,
        "country": country(attributes.get("country_of_residence")) or s.default_user_country,
        "type_of_institution": (
            institution_type(attributes.get("organization_type")) or s.default_user_institution_type
        ),
        "affiliated_institution": attributes.get("organization") or s.default_user_institution,
        "biography": s.default_user_biography,
        "agency": s.default_agency,
        "funding_agency": s.default_agency,
        "funding_agency_grant": s.user_funding_agency_prefix + username[:10].upper(),
        "request_reason": "Member of a Waldur project with a MUP allocation",
        "has_read_and_accepted_terms_of_service": True,
        "has_read_and_accepted_data_sharing_policy": True,
        "has_subscribe_newsletter": False,
    }


def has_myaccessid(user: Obj, cuid: str) -> bool:
    """MUP lists a user's MyAccessID among their `user_ssh_keys`."""
    return any(
        isinstance(k, dict) and k.get("key") == cuid for k in user.get("user_ssh_keys") or []
    )
