"""How RadosGW authenticates an Admin Ops request: an S3 signature, AWS SigV4 or SigV2.

Written from the AWS specifications, independently of the agent's signer: a request the agent
signs wrongly is refused here as RadosGW would refuse it. What is checked:

- SigV4 (`Authorization: AWS4-HMAC-SHA256 Credential=<key>/<date>/<region>/s3/aws4_request,
  SignedHeaders=..., Signature=...`): the canonical request (method, the path encoded once, the
  query sorted and percent-encoded, `key=` for a flag, the signed headers lower-cased and
  trimmed, the payload hash), `x-amz-content-sha256` present (RadosGW refuses a V4 request
  without it) and equal to the body's hash unless `UNSIGNED-PAYLOAD`, `host` among the signed
  headers, the scope's date equal to `x-amz-date`'s. The region is not checked against a
  zonegroup (RadosGW does not either): it only has to be the one signed with.
- SigV2 (`Authorization: AWS <key>:<base64 HMAC-SHA1>`): method, Content-MD5, Content-Type, the
  Date (empty when `x-amz-date` is sent), the `x-amz-*` headers, and the path with the query's S3
  subresources; none of Admin Ops' own parameters (`uid`, `key`, `quota`, ...) is among them,
  so they are not signed in V2.
- The request time (`x-amz-date` or `Date`) within 15 minutes of the gateway's clock.

Not reproduced: presigned URLs (query-string authentication), chunked (`STREAMING-`) payloads,
STS session tokens, LDAP/Keystone authentication.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl, quote, unquote

SKEW_SECONDS = 15 * 60
UNSIGNED = "UNSIGNED-PAYLOAD"
V2_SUBRESOURCES = frozenset(
    {
        "acl",
        "cors",
        "delete",
        "lifecycle",
        "location",
        "logging",
        "notification",
        "partNumber",
        "policy",
        "requestPayment",
        "tagging",
        "torrent",
        "uploadId",
        "uploads",
        "versionId",
        "versioning",
        "versions",
        "website",
    }
)


class Refused(Exception):
    """An S3 error: its code and HTTP status, as RadosGW answers them."""

    def __init__(self, code: str, status: int = 403) -> None:
        super().__init__(code)
        self.code, self.status = code, status


def _rfc3986(text: str) -> str:
    return quote(text, safe="-_.~")


def _v4_canonical_request(
    method: str, path: str, query: str, headers: Mapping[str, str], signed: list[str], payload: str
) -> str:
    pairs = sorted(parse_qsl(query, keep_blank_values=True))
    return "\n".join(
        [
            method,
            quote(unquote(path) or "/", safe="/-_.~"),
            "&".join(f"{_rfc3986(k)}={_rfc3986(v)}" for k, v in pairs),
            *(f"{name}:{' '.join(headers.get(name, '').split())}" for name in signed),
            "",
            ";".join(signed),
            payload,
        ]
    )


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def _v4(
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    value: str,
    secret_of: Callable[[str], str | None],
) -> str:
    fields = {}
    for part in value[len("AWS4-HMAC-SHA256") :].split(","):
        name, _, content = part.strip().partition("=")
        fields[name] = content
    try:
        access, date, region, service, terminal = fields["Credential"].split("/")
        signed = fields["SignedHeaders"].split(";")
        signature = fields["Signature"]
    except (KeyError, ValueError):
        raise Refused("AuthorizationHeaderMalformed", 400) from None
    secret = secret_of(access)
    if secret is None:
        raise Refused("InvalidAccessKeyId")
    payload = headers.get("x-amz-content-sha256")
    amz_date = headers.get("x-amz-date", "")
    if payload is None or "host" not in signed or terminal != "aws4_request" or service != "s3":
        raise Refused("SignatureDoesNotMatch")
    if payload != UNSIGNED and payload != hashlib.sha256(body).hexdigest():
        raise Refused("XAmzContentSHA256Mismatch", 400)
    if amz_date[:8] != date:
        raise Refused("SignatureDoesNotMatch")
    canonical = _v4_canonical_request(method, path, query, headers, signed, payload)
    scope = f"{date}/{region}/{service}/aws4_request"
    text = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, "aws4_request"):
        key = _hmac(key, part)
    expected = hmac.new(key, text.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise Refused("SignatureDoesNotMatch")
    return access


def _v2(
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    value: str,
    secret_of: Callable[[str], str | None],
) -> str:
    access, _, signature = value[len("AWS ") :].partition(":")
    secret = secret_of(access)
    if secret is None:
        raise Refused("InvalidAccessKeyId")
    amz = sorted((k, " ".join(v.split())) for k, v in headers.items() if k.startswith("x-amz-"))
    subresources = sorted(
        (k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k in V2_SUBRESOURCES
    )
    resource = unquote(path)
    if subresources:
        resource += "?" + "&".join(f"{k}={v}" if v else k for k, v in subresources)
    date = "" if "x-amz-date" in headers else headers.get("date", "")
    text = "\n".join(
        [
            method,
            headers.get("content-md5", ""),
            headers.get("content-type", ""),
            date,
            *(f"{k}:{v}" for k, v in amz),
            resource,
        ]
    )
    digest = hmac.new(secret.encode(), text.encode(), hashlib.sha1).digest()
    if not hmac.compare_digest(base64.b64encode(digest).decode(), signature):
        raise Refused("SignatureDoesNotMatch")
    return access


def _moment(headers: Mapping[str, str]) -> datetime | None:
    if "x-amz-date" in headers:
        try:
            return datetime.strptime(headers["x-amz-date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            return None
    try:
        return parsedate_to_datetime(headers["date"]) if "date" in headers else None
    except (TypeError, ValueError):
        return None


def authenticate(
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    secret_of: Callable[[str], str | None],
    now: float,
) -> str:
    """The access key a request is signed with, or `Refused`. `headers`: names lower-cased."""
    value = headers.get("authorization", "")
    if not value:
        raise Refused("AccessDenied")  # anonymous: Admin Ops has nothing for it
    moment = _moment(headers)
    if moment is None:
        raise Refused("AccessDenied")
    if abs(moment.timestamp() - now) > SKEW_SECONDS:
        raise Refused("RequestTimeTooSkewed")
    if value.startswith("AWS4-HMAC-SHA256 "):
        return _v4(method, path, query, headers, body, value, secret_of)
    if value.startswith("AWS "):
        return _v2(method, path, query, headers, value, secret_of)
    raise Refused("AccessDenied")
