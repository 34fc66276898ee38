"""The Croit S3 backend (`ceph_s3`, formerly `croit_s3`): one S3 user per marketplace resource.

Create makes the user (named by `naming`), makes sure it has an access key, applies the safety
ceilings as quotas and returns the credentials and a storage summary as resource metadata;
usage is what the user's buckets hold now; terminate deletes the user with its buckets.
"""

from __future__ import annotations

import secrets
import string
from typing import Any, TypeVar

import msgspec

from waldur_site_agent_actors.backends import backend_ids, units
from waldur_site_agent_actors.backends.base import BaseBackend, UserContext
from waldur_site_agent_actors.backends.commands import validate_name
from waldur_site_agent_actors.backends.croit_s3 import naming, quotas
from waldur_site_agent_actors.backends.croit_s3.client import (
    CroitClient,
    CroitConflict,
    CroitNotFound,
)
from waldur_site_agent_actors.backends.croit_s3.settings import CroitS3Component, CroitS3Settings
from waldur_site_agent_actors.backends.exceptions import (
    BackendError,
    ConfigurationError,
    DuplicateResourceError,
)
from waldur_site_agent_actors.backends.structures import (
    TOTAL_ACCOUNT_USAGE,
    BackendResourceInfo,
    ClientResource,
    Endpoint,
    UsageReport,
    WaldurResource,
)

T = TypeVar("T")


STAMP_DOMAIN = "@waldur.invalid"


def owner_stamp(resource_uuid: str) -> str:
    """Written to the e-mail of each S3 user this plugin creates: the owner record that tells
    our own interrupted create apart from an account that was there before, or another
    resource's (`.invalid` is never deliverable)."""
    return backend_ids.owner_tag(resource_uuid) + STAMP_DOMAIN


def new_key_pair() -> tuple[str, str]:
    """An access key (20 upper-case letters and digits, as RadosGW makes them) and a secret."""
    alphabet = string.ascii_uppercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(20)), secrets.token_urlsafe(30)


class CroitS3Backend(BaseBackend):
    supports_decreasing_usage = True  # deleting objects lowers the storage in use

    def __init__(
        self, backend_settings: dict[str, Any], backend_components: dict[str, dict[str, Any]]
    ) -> None:
        super().__init__(backend_settings, backend_components)
        self.backend_type = "ceph_s3"
        self.settings = settings = _checked(backend_settings, CroitS3Settings, "settings")
        for key, component in backend_components.items():
            own = {k: v for k, v in component.items() if k in CroitS3Component.__struct_fields__}
            _checked(own, CroitS3Component, f"component {key}")
        self.croit = CroitClient(
            settings.api_url,
            token=settings.token,
            username=settings.username,
            password=settings.password,
            verify=(settings.ca_bundle or True) if settings.verify_ssl else False,
            timeout=settings.timeout,
        )

    # -- naming and reachability --------------------------------------------------------------

    def resource_backend_id(self, waldur_resource: WaldurResource) -> str:
        s = self.settings
        return naming.s3_user_name(
            waldur_resource, s.prefix, s.slug_separator, s.max_username_length
        )

    def numbered_backend_id(self, base: str, number: int) -> str:
        suffix = f"-{number}"
        name = base[: self.settings.max_username_length - len(suffix)] + suffix
        return validate_name(
            name,
            what="S3 user name",
            pattern=naming.S3_USER_NAME,
            max_length=self.settings.max_username_length,
        )

    def backend_id_owner(self, backend_id: str) -> str | None:
        user = self.croit.user(backend_id)
        if user is None:
            return None
        email = str(user.get("email") or "")
        if not email.endswith(STAMP_DOMAIN):
            return ""
        return backend_ids.owner_in(email.removesuffix(STAMP_DOMAIN))

    def ping(self, raise_exception: bool = False) -> bool:
        return self._reachable("Croit", self.croit.users, raise_exception)

    def diagnostics(self) -> bool:
        s = self.settings
        self.log.info(
            "Croit API %s/api, authenticating with %s, TLS verification %s",
            s.api_url.rstrip("/"),
            self.croit.credential,
            (s.ca_bundle or "on") if s.verify_ssl else "off",
        )
        try:
            users = self.croit.users()
        except BackendError as exc:
            self.log.error("Croit cannot be used: %s", exc)
            return False
        ours = sum(str(u.get("email", "")).startswith(backend_ids.OWNER_PREFIX) for u in users)
        self.log.info("%d S3 user(s), %d of them created by this agent", len(users), ours)
        for key, component in sorted(self.backend_components.items()):
            self.log.info(
                "component %s: %s, unit_factor %s, limits %s",
                key,
                component.get("backend_name"),
                component.get("unit_factor", 1),
                "enforced" if component.get("enforce_limits") else "not enforced",
            )
        return True

    def list_components(self) -> list[str]:
        return sorted(self.backend_components)

    # -- create -------------------------------------------------------------------------------

    def _pre_create_resource(
        self, waldur_resource: WaldurResource, user_context: UserContext | None = None
    ) -> None:
        """Nothing to prepare: an S3 user stands alone."""

    def _collect_resource_limits(
        self, waldur_resource: WaldurResource
    ) -> tuple[dict[str, int], dict[str, float]]:
        return self.component_limits(waldur_resource, fixed=False)

    def create_resource_with_id(
        self,
        waldur_resource: WaldurResource,
        backend_id: str,
        user_context: UserContext | None = None,
    ) -> BackendResourceInfo:
        """Create the S3 user, or finish an earlier create of it that was interrupted; all or
        nothing: a user this call created is deleted again when a later step fails."""
        validate_name(backend_id, what="S3 user name", pattern=naming.S3_USER_NAME, max_length=128)
        existing = self.croit.user(backend_id)
        created = False
        if existing is None:
            try:
                self.croit.create_user(self._new_user(waldur_resource, backend_id))
                created = True
            except CroitConflict:
                existing = self.croit.user(backend_id)  # created meanwhile by someone else?
                if existing is None:
                    raise
        if existing is not None:
            self._require_ours(existing, waldur_resource)
            self.log.info("S3 user %s exists from an earlier attempt: completing it", backend_id)
        try:
            self._ensure_key(backend_id)
            self._apply(backend_id, quotas.wanted(waldur_resource, self.backend_components))
            metadata = self.get_resource_metadata(backend_id)
        except BackendError:
            if created:
                self._undo_create(backend_id)
            raise
        limits, _ = self._collect_resource_limits(waldur_resource)
        return BackendResourceInfo(
            backend_id=backend_id,
            limits=limits,
            backend_metadata=metadata,
            endpoints=[Endpoint("S3", self.settings.endpoint)],
        )

    def _new_user(self, waldur_resource: WaldurResource, uid: str) -> dict[str, str]:
        body = {
            "uid": uid,
            "name": waldur_resource.name or uid,
            "email": owner_stamp(waldur_resource.uuid),
        }
        for key, value in (
            ("tenant", self.settings.default_tenant),
            ("defaultPlacement", self.settings.default_placement),
            ("defaultStorageClass", self.settings.default_storage_class),
        ):
            if value:
                body[key] = value
        return body

    def _require_ours(self, user: dict[str, Any], waldur_resource: WaldurResource) -> None:
        if user.get("email") != owner_stamp(waldur_resource.uuid):
            raise DuplicateResourceError(
                f"S3 user {user.get('uid')} already exists on Croit and was not created for "
                f"resource {waldur_resource.uuid}: it is not taken over"
            )

    def _ensure_key(self, uid: str) -> None:
        """RadosGW usually mints a key with the user; when it did not, this plugin does."""
        if not self.croit.keys(uid):
            pair = new_key_pair()
            self.croit.add_key(uid, *pair)
            self.log.info("S3 user %s had no access key: added %s", uid, pair[0])

    def _undo_create(self, uid: str) -> None:
        try:
            self.croit.delete_user(uid)
        except BackendError as exc:
            self.log.error("S3 user %s was left behind by a failed create: %s", uid, exc)

    # -- quotas -------------------------------------------------------------------------------

    def _apply(self, uid: str, ceilings: quotas.Ceilings) -> None:
        scope = self.settings.quota_scope
        for kind in ("user", "bucket"):
            if scope in ("both", kind):
                self.croit.set_quota(uid, kind, ceilings.body())
        self.log.info(
            "S3 user %s: safety quota %s",
            uid,
            "none" if ceilings == quotas.Ceilings() else ceilings._asdict(),
        )

    def _ceilings(self, uid: str) -> quotas.Ceilings:
        user = self.croit.user(uid)
        if user is None:
            raise BackendError(f"S3 user {uid} does not exist on Croit")
        scope = "bucketQuota" if self.settings.quota_scope == "bucket" else "userQuota"
        return quotas.read(user.get(scope))

    def set_resource_limits(self, resource_backend_id: str, limits: dict[str, float]) -> str | None:
        current = self._ceilings(resource_backend_id)
        self._apply(resource_backend_id, quotas.updated(current, limits, self.backend_components))
        return None

    def set_resource_options(
        self, waldur_resource: WaldurResource, new_options: dict[str, Any]
    ) -> str | None:
        uid = waldur_resource.backend_id
        current = self._ceilings(uid)
        ceilings = quotas.from_options(
            current, waldur_resource, new_options, self.backend_components
        )
        self._apply(uid, ceilings)
        return None

    # -- what exists, and what it uses ----------------------------------------------------------

    def pull_resource(self, waldur_resource: WaldurResource) -> BackendResourceInfo | None:
        """The S3 user of a resource; for a resource still Creating, always None, so that its
        create (or the completion of an interrupted one) goes through `create_resource_with_id`,
        which checks that an existing user is this resource's."""
        uid = waldur_resource.backend_id
        if not uid or waldur_resource.state == "Creating" or self.croit.user(uid) is None:
            return None
        return BackendResourceInfo(backend_id=uid)

    def list_resources(self) -> list[ClientResource]:
        return [
            ClientResource(name=u["uid"], description=str(u.get("name", "")), backend_id=u["uid"])
            for u in self.croit.users()
        ]

    def get_usage_report(self, resource_backend_ids: list[str]) -> UsageReport:
        """Only what was measured: a user that could not be read is left out rather than
        reported as empty, which would overwrite the month's figure with 0."""
        return self._get_usage_report(resource_backend_ids)

    def _get_usage_report(self, resource_backend_ids: list[str]) -> UsageReport:
        report: UsageReport = {}
        for uid in resource_backend_ids:
            try:
                buckets = self.croit.buckets(uid)
            except BackendError as exc:
                self.log.warning("usage of S3 user %s not read: %s", uid, exc)
                continue
            measured = {
                quotas.STORAGE: sum(b.size for b in buckets),
                quotas.OBJECTS: sum(b.objects for b in buckets),
            }
            report[uid] = {
                TOTAL_ACCOUNT_USAGE: {
                    key: units.usage_to_waldur(measured[c["backend_name"]], self.unit_factor(key))
                    for key, c in self.backend_components.items()
                }
            }
        return report

    def get_resource_metadata(self, resource_backend_id: str) -> dict[str, Any]:
        """Credentials, storage summary and quotas, shown on the resource in Waldur."""
        uid = resource_backend_id
        user = self.croit.user(uid)
        if user is None:
            return {}
        keys, buckets = self.croit.keys(uid), self.croit.buckets(uid)
        metadata: dict[str, Any] = {
            "storage_summary": {
                "bucket_count": len(buckets),
                "total_size_bytes": sum(b.size for b in buckets),
                "total_objects": sum(b.objects for b in buckets),
                "buckets": [
                    {"name": b.name, "size_bytes": b.size, "objects": b.objects} for b in buckets
                ],
            },
            "quotas": {
                "bucket_quota": _quota(user.get("bucketQuota")),
                "user_quota": _quota(user.get("userQuota")),
            },
        }
        if keys:
            metadata["s3_credentials"] = {
                "access_key": keys[0].get("access_key", ""),
                "secret_key": keys[0].get("secret_key", ""),
                "endpoint": self.settings.endpoint,
                "region": self.settings.s3_region,
            }
        return metadata

    # -- terminate ------------------------------------------------------------------------------

    def delete_resource(self, waldur_resource: WaldurResource, **kwargs: Any) -> str | None:
        uid = waldur_resource.backend_id
        if not uid:
            self.log.info("resource %s has no S3 user, nothing to delete", waldur_resource.uuid)
            return None
        try:
            self.croit.delete_user(uid)
        except CroitNotFound:
            self.log.info("S3 user %s is already gone", uid)
            return None
        self.log.info("S3 user %s deleted with its buckets", uid)
        return None

    # -- what has no meaning for one S3 user per resource -----------------------------------------

    def add_users_to_resource(
        self, resource_backend_id: str, usernames: set[str], **kwargs: Any
    ) -> set[str]:
        """Nobody is linked: the credentials belong to the resource, and Waldur shows them to
        the project's team."""
        return set()

    def remove_users_from_resource(
        self, resource_backend_id: str, usernames: set[str]
    ) -> list[str]:
        return []

    def get_resource_user_limits(self, resource_backend_id: str) -> dict[str, dict[str, int]]:
        return {}

    def set_resource_user_limits(
        self, resource_backend_id: str, username: str, limits: dict[str, float]
    ) -> None:
        """Per-user limits: there are no users inside an S3 user to limit."""

    def membership_sync_states(
        self, resource_backend_id: str, usernames: set[str]
    ) -> dict[str, str] | None:
        """No grants to report: nobody is linked to an S3 user."""
        return None

    def downscale_resource(self, resource_backend_id: str) -> bool:
        return True

    def pause_resource(self, resource_backend_id: str) -> bool:
        return True

    def restore_resource(self, resource_backend_id: str) -> bool:
        return True


def _checked(data: dict[str, Any], schema: type[T], what: str) -> T:
    """Settings are validated by `validate` already; this is for a plugin built without it."""
    try:
        return msgspec.convert(data, schema)
    except msgspec.ValidationError as exc:
        raise ConfigurationError(f"Croit S3 {what}: {exc}") from None


def _quota(quota: dict[str, Any] | None) -> dict[str, Any]:
    quota = quota or {}
    return {
        "enabled": bool(quota.get("enabled", False)),
        "maxSize": quota.get("maxSize", quotas.UNLIMITED),
        "maxObjects": quota.get("maxObjects", quotas.UNLIMITED),
    }
