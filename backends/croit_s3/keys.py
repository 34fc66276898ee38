"""S3 key pairs this agent mints: RadosGW's and AWS's shapes, which S3 clients expect."""

from __future__ import annotations

import secrets
import string

ACCESS_KEY_LENGTH = 20
SECRET_KEY_LENGTH = 40
ACCESS_KEY_ALPHABET = string.ascii_uppercase + string.digits
COUNT = 2
"""Keys a resource holds: one stays usable while the other is rotated."""


def new_pair() -> dict[str, str]:
    """`client_id` (the access key: 20 upper-case letters and digits) and `api_key` (the
    secret: 40 URL-safe characters), as Waldur's resource API keys name them."""
    access = "".join(secrets.choice(ACCESS_KEY_ALPHABET) for _ in range(ACCESS_KEY_LENGTH))
    return {
        "client_id": access,
        "api_key": secrets.token_urlsafe(SECRET_KEY_LENGTH)[:SECRET_KEY_LENGTH],
    }
