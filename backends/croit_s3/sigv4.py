"""AWS Signature Version 4 for S3, as RadosGW checks it on its Admin Ops API.

RadosGW authenticates an admin request like any S3 request: signed with an access key whose
user holds the needed caps. The S3 flavour of SigV4 is used (service `s3`, the payload hash in
`x-amz-content-sha256`, which RadosGW insists on). The region is part of the signature but not
checked against the zonegroup, so both ends only need to agree on it.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote, unquote, urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"
UNRESERVED = "-_.~"
DEFAULT_PORTS = {"http": 80, "https": 443}


def encode(text: str) -> str:
    """RFC 3986 encoding, as SigV4 canonicalises: everything but unreserved characters."""
    return quote(text, safe=UNRESERVED)


def query_string(params: dict[str, object | None]) -> str:
    """A query the way it is signed: `key=value`, a flag as `key=` (RadosGW's subresources:
    `?key`, `?quota`, `?list`), values percent-encoded (a `+` would read as a space there)."""
    return "&".join(f"{encode(k)}={encode('' if v is None else str(v))}" for k, v in params.items())


def canonical_query(query: str) -> str:
    pairs = parse_qsl(query, keep_blank_values=True)
    return "&".join(f"{encode(k)}={encode(v)}" for k, v in sorted(pairs))


def host_of(url: str) -> str:
    """The Host header a request to `url` carries: the port only when it is not the default."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port and parts.port != DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{parts.port}"
    return host


def signing_key(secret_key: str, date: str, region: str, service: str = "s3") -> bytes:
    key = f"AWS4{secret_key}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def string_to_sign(
    method: str,
    path: str,
    query: str,
    headers: dict[str, str],
    payload_hash: str,
    amz_date: str,
    scope: str,
) -> str:
    """What the signature covers; `headers` are the signed ones, names in lower case."""
    names = sorted(headers)
    canonical = "\n".join(
        [
            method,
            quote(unquote(path) or "/", safe="/" + UNRESERVED),  # S3 encodes the path once
            canonical_query(query),
            *(f"{name}:{' '.join(headers[name].split())}" for name in names),
            "",
            ";".join(names),
            payload_hash,
        ]
    )
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return "\n".join([ALGORITHM, amz_date, scope, digest])


def sign(
    method: str,
    url: str,
    body: bytes,
    access_key: str,
    secret_key: str,
    region: str,
    now: datetime | None = None,
) -> dict[str, str]:
    """The headers that authenticate one request to `url` (its query included)."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    amz_date = moment.strftime("%Y%m%dT%H%M%SZ")
    scope = f"{amz_date[:8]}/{region}/s3/aws4_request"
    payload_hash = hashlib.sha256(body).hexdigest()
    headers = {
        "host": host_of(url),
        "x-amz-content-sha256": payload_hash,
        "x-amz-date": amz_date,
    }
    parts = urlsplit(url)
    text = string_to_sign(method, parts.path, parts.query, headers, payload_hash, amz_date, scope)
    key = signing_key(secret_key, amz_date[:8], region)
    signature = hmac.new(key, text.encode(), hashlib.sha256).hexdigest()
    return {
        "Host": headers["host"],
        "x-amz-content-sha256": payload_hash,
        "x-amz-date": amz_date,
        "Authorization": (
            f"{ALGORITHM} Credential={access_key}/{scope}, "
            f"SignedHeaders={';'.join(sorted(headers))}, Signature={signature}"
        ),
    }
