"""`backend_settings` and the component keys of the Croit S3 plugin, declared once.

Both the seed's keys (`user_prefix`, `slug_separator`, ...) and those upstream's renamed
`ceph_s3` plugin reads (`allocation_prefix`, `s3_endpoint`, `s3_region`, `flavour`) are accepted,
so an operator's file for either loads unchanged.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal
from urllib.parse import urlparse

import msgspec
from msgspec import Meta

from waldur_site_agent_actors.backends.croit_s3 import naming
from waldur_site_agent_actors.config.model import BackendSettings

DEFAULT_PREFIX = "waldur_"
NAME_PART = re.compile(r"(?:[a-z0-9][a-z0-9_.-]*)?")


CROIT_ONLY = ("api_url", "token", "username", "password")
RADOSGW_ONLY = ("admin_access_key", "admin_secret_key", "admin_path")
NOT_ON_RADOSGW = ("default_tenant", "default_storage_class")
"""Admin Ops creates no tenanted users here and takes no storage class: refused, as upstream."""


class CroitS3Settings(BackendSettings, kw_only=True, forbid_unknown_fields=True):
    api_url: str = ""
    """Croit's address; the API is under `<api_url>/api`. Required with `flavour: croit`."""
    token: str = ""
    """A Croit API token, sent as `Authorization: Bearer`. Or `username` and `password`."""
    username: str = ""
    password: str = ""
    verify_ssl: bool = True
    ca_bundle: str = ""
    """A PEM file of the CA that signed Croit's certificate (instead of `verify_ssl: false`)."""
    timeout: Annotated[float, Meta(gt=0)] = 30.0
    """Seconds to connect, and seconds to wait for each answer."""
    user_prefix: str | None = None
    """Prefix of S3 user names (default `waldur_`)."""
    allocation_prefix: str = ""
    """Upstream `ceph_s3`'s name for `user_prefix`; empty (as there): the default prefix."""
    slug_separator: Literal["_", "-", "."] = "_"
    max_username_length: Annotated[int, Meta(ge=16, le=128)] = 64
    default_tenant: str = ""
    default_placement: str = ""
    default_storage_class: str = ""
    s3_endpoint: str = ""
    """Where tenants point their S3 clients; published in the resource metadata (default:
    `api_url`)."""
    s3_region: str = "default"
    quota_scope: Literal["both", "bucket", "user"] = "both"
    """Where safety limits go: RadosGW's per-bucket quota, the user's total, or both (a bucket
    quota alone bounds each bucket, not how many buckets a user makes)."""
    flavour: Literal["croit", "radosgw"] = "croit"
    """`croit`: Croit's management API; `radosgw`: RadosGW's Admin Ops API on the gateway
    (`s3_endpoint`), signed with the `admin_*` key."""
    admin_access_key: str = ""
    """`flavour: radosgw`: the access key of a RadosGW user with the `users=*` and
    `buckets=read` caps."""
    admin_secret_key: str = ""
    admin_path: str = ""
    """`flavour: radosgw`: RadosGW's `rgw_admin_entry` (default `admin`)."""

    def __post_init__(self) -> None:
        for name, url in (("api_url", self.api_url), ("s3_endpoint", self.s3_endpoint)):
            if url and (urlparse(url).scheme not in ("http", "https") or not urlparse(url).netloc):
                raise ValueError(f"{name}: expected an http(s) URL")
        if self.flavour == "radosgw":
            self._check_radosgw()
        else:
            self._check_croit()
        if self.user_prefix is not None and self.allocation_prefix:
            raise ValueError("user_prefix and allocation_prefix are one setting: set one")
        if not NAME_PART.fullmatch(self.prefix):
            raise ValueError("user_prefix: lower-case letters, digits and _ . - only")
        if naming.room(self.prefix, self.slug_separator, self.max_username_length) < 2:
            raise ValueError(
                f"max_username_length {self.max_username_length} leaves no room for the "
                f"organisation and project after the prefix {self.prefix!r}"
            )

    def _check_croit(self) -> None:
        stray = [key for key in RADOSGW_ONLY if getattr(self, key)]
        if stray:
            raise ValueError(f"{', '.join(stray)}: only for flavour radosgw; remove them")
        if not self.api_url:
            raise ValueError("api_url: required (Croit's address)")
        if bool(self.token) == bool(self.username or self.password):
            raise ValueError("set either token, or username and password")
        if not self.token and not (self.username and self.password):
            raise ValueError("username and password go together")

    def _check_radosgw(self) -> None:
        stray = [key for key in CROIT_ONLY if getattr(self, key)]
        if stray:
            raise ValueError(f"{', '.join(stray)}: not used by flavour radosgw; remove them")
        unsupported = [key for key in NOT_ON_RADOSGW if getattr(self, key)]
        if unsupported:
            raise ValueError(
                f"{', '.join(unsupported)}: RadosGW's Admin Ops API cannot set it here; remove it"
            )
        missing = [
            key
            for key in ("s3_endpoint", "admin_access_key", "admin_secret_key")
            if not getattr(self, key)
        ]
        if missing:
            raise ValueError(f"flavour radosgw needs {', '.join(missing)}")

    @property
    def prefix(self) -> str:
        if self.user_prefix is not None:
            return self.user_prefix
        return self.allocation_prefix or DEFAULT_PREFIX

    @property
    def endpoint(self) -> str:
        return (self.s3_endpoint or self.api_url).rstrip("/")


class CroitS3Component(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The keys a component of this plugin adds to the standard ones."""

    backend_name: Literal["storage", "objects"]
    """What the component measures: stored bytes, or the number of objects."""
    enforce_limits: bool = False
    """Apply the resource's ceiling for it (its limit, or the order's `storage_limit` /
    `object_limit`) as a RadosGW quota."""
