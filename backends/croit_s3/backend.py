"""The Ceph S3 backend (`ceph_s3`, formerly `croit_s3`): one S3 user per marketplace resource.

It speaks to Croit's management API (`flavour: croit`) or to RadosGW's Admin Ops API
(`flavour: radosgw`), through clients that answer in one shape. Create makes the user (named by
`naming`) holding no key, applies the safety ceilings as quotas and returns a storage summary and
where to connect as resource metadata; the access keys are Waldur resource API keys, which the
core asks this plugin to mint (two, so one can be rotated while the other is in use) and to
rotate. Usage is what the user's buckets hold now; terminate deletes the user, or with
`soft_delete` keeps it with zero quotas and no key.

Under the name `croit_s3` (`CroitS3MetadataKeysBackend`) the metadata also carries the user's
first key, as `s3_credentials`, where upstream's plugin of that name put it; under `ceph_s3` it
holds no secret.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from waldur_site_agent_actors.backends import backend_ids, units
from waldur_site_agent_actors.backends.base import BaseBackend, UserContext
from waldur_site_agent_actors.backends.commands import validate_name
from waldur_site_agent_actors.backends.croit_s3 import keys, naming, quotas
from waldur_site_agent_actors.backends.croit_s3.client import CroitClient
from waldur_site_agent_actors.backends.croit_s3.errors import Conflict, NotFound
from waldur_site_agent_actors.backends.croit_s3.radosgw import RadosGWClient
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


AdminClient = CroitClient | RadosGWClient


def stamped(email: object) -> bool:
    """Made by this agent, for some resource: what key operations, addressed by backend id
    alone, can check before they touch a user's credentials."""
    return (
        isinstance(email, str)
        and email.startswith(backend_ids.OWNER_PREFIX)
        and email.endswith(STAMP_DOMAIN)
    )


class CroitS3Backend(BaseBackend):
    supports_decreasing_usage = True  # deleting objects lowers the storage in use
    supports_resource_api_keys = True
    """The S3 keys are Waldur resource API keys: minted here, reported by the core."""

    def __init__(
        self, backend_settings: dict[str, Any], backend_components: dict[str, dict[str, Any]]
    ) -> None:
        super().__init__(backend_settings, backend_components)
        self.backend_type = "ceph_s3"
        self.settings = settings = _checked(backend_settings, CroitS3Settings, "settings")
        for key, component in backend_components.items():
            own = {k: v for k, v in component.items() if k in CroitS3Component.__struct_fields__}
            _checked(own, CroitS3Component, f"component {key}")
        verify = (settings.ca_bundle or True) if settings.verify_ssl else False
        self.croit: AdminClient
        if settings.flavour == "radosgw":
            self.croit = RadosGWClient(
                settings.s3_endpoint,
                settings.admin_access_key,
                settings.admin_secret_key,
                admin_path=settings.admin_path or "admin",
                region=settings.s3_region,
                verify=verify,
                timeout=settings.timeout,
            )
        else:
            self.croit = CroitClient(
                settings.api_url,
                token=settings.token,
                username=settings.username,
                password=settings.password,
                verify=verify,
                timeout=settings.timeout,
            )
        self.system = "RadosGW" if settings.flavour == "radosgw" else "Croit"

    # -- naming and reachability --------------------------------------------------------------

    def resource_backend_id(self, waldur_resource: WaldurResource) -> str:
        if self.named_by_project:
            return super().resource_backend_id(waldur_resource)
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

    def _get_resource_backend_id(self, resource_slug: str) -> str:
        """By project slug (`account_name_generation_policy`): the prefix and the cleaned slug,
        numbered as the base class numbers names (`-0`, `-1`, ...)."""
        s = self.settings
        return naming.project_user_name(resource_slug, s.prefix, s.max_username_length)

    def ping(self, raise_exception: bool = False) -> bool:
        return self._reachable(self.system, self.croit.uids, raise_exception)

    def diagnostics(self) -> bool:
        s = self.settings
        self.log.info(
            "%s API %s, authenticating with %s, TLS verification %s",
            self.system,
            self.croit.api,
            self.croit.credential,
            (s.ca_bundle or "on") if s.verify_ssl else "off",
        )
        try:
            users = self.croit.users()
        except BackendError as exc:
            self.log.error("%s cannot be used: %s", self.system, exc)
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
            except Conflict:
                existing = self.croit.user(backend_id)  # created meanwhile by someone else?
                if existing is None:
                    raise
        if existing is not None:
            self._require_ours(existing, waldur_resource)
            self.log.info("S3 user %s exists from an earlier attempt: completing it", backend_id)
        try:
            if created and self.settings.flavour == "croit":
                # Through Croit, RadosGW mints a key with every user: one Waldur never holds.
                self._drop_keys(backend_id, "the key RadosGW made with it")
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
                f"S3 user {user.get('uid')} already exists on {self.system} and was not created "
                f"for resource {waldur_resource.uuid}: it is not taken over"
            )

    def _drop_keys(self, uid: str, which: str) -> None:
        for key in self.croit.keys(uid):
            self.croit.delete_key(uid, str(key["access_key"]))
            self.log.info("S3 user %s: removed %s, %s", uid, which, key["access_key"])

    # -- keys: Waldur's resource API keys -------------------------------------------------------

    def generate_resource_key(self, resource_backend_id: str) -> dict[str, str]:
        """One new key pair applied to the user, for the core to report to Waldur before it
        asks for the next one."""
        self._require_stamped(resource_backend_id)
        pair = keys.new_pair()
        self.croit.add_key(resource_backend_id, pair["client_id"], pair["api_key"])
        self.log.info("S3 user %s: new key %s", resource_backend_id, pair["client_id"])
        return pair

    def prune_unknown_resource_keys(self, resource_backend_id: str, keep: list[str]) -> None:
        """Drop the keys Waldur does not hold (left by an interrupted create or rotation): a
        live credential nobody can rotate is worse than none."""
        self._require_stamped(resource_backend_id)
        held = {str(k["access_key"]) for k in self.croit.keys(resource_backend_id)}
        self._drop_unknown(resource_backend_id, held, set(keep))

    def rotate_resource_key(
        self, client_id: str, resource_backend_id: str, known_client_ids: list[str] | None = None
    ) -> dict[str, str]:
        """A new pair first, then the old key goes: a client on the other key never notices.
        S3 access keys change with their secret, so both halves go back to Waldur. With the
        keys Waldur holds (`known_client_ids`), keys it does not know are dropped too, but only
        those that existed before this rotation."""
        self._require_stamped(resource_backend_id)
        before = {str(k["access_key"]) for k in self.croit.keys(resource_backend_id)}
        pair = keys.new_pair()
        self.croit.add_key(resource_backend_id, pair["client_id"], pair["api_key"])
        try:
            self.croit.delete_key(resource_backend_id, client_id)
        except NotFound:
            self.log.info("S3 user %s had no key %s any more", resource_backend_id, client_id)
        self.log.info(
            "S3 user %s: key %s rotated to %s", resource_backend_id, client_id, pair["client_id"]
        )
        if known_client_ids is not None:
            keep = {*known_client_ids, pair["client_id"]} - {client_id}
            self._drop_unknown(resource_backend_id, before - {client_id}, keep)
        return pair

    def _drop_unknown(self, uid: str, candidates: set[str], keep: set[str]) -> None:
        for access_key in sorted(candidates - keep):
            self.croit.delete_key(uid, access_key)
            self.log.warning(
                "S3 user %s: removed key %s, which Waldur does not hold", uid, access_key
            )

    def _require_stamped(self, uid: str) -> None:
        """Keys are only touched on users this agent made: a backend id from an event is not
        trusted to name one."""
        user = self.croit.user(uid)
        if user is None:
            raise NotFound(f"S3 user {uid} does not exist on {self.system}", 404)
        if not stamped(user.get("email")):
            raise BackendError(f"S3 user {uid} was not created by Waldur: its keys are left alone")

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
            raise BackendError(f"S3 user {uid} does not exist on {self.system}")
        scope = "bucketQuota" if self.settings.quota_scope == "bucket" else "userQuota"
        return quotas.read(user.get(scope))

    def set_resource_limits(self, resource_backend_id: str, limits: dict[str, float]) -> str | None:
        current = self._ceilings(resource_backend_id)
        self._apply(resource_backend_id, quotas.updated(current, limits, self.backend_components))
        return None

    def apply_resource_limits(self, waldur_resource: WaldurResource) -> str | None:
        """The ceilings a new resource gets (an adopted or restored one: a soft delete left
        zero quotas)."""
        wanted = quotas.wanted(waldur_resource, self.backend_components)
        self._apply(waldur_resource.backend_id, wanted)
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

    def backend_owned_limits(self) -> set[str]:
        """None: quotas follow Waldur's limits, never the other way (upstream's Ceph S3 plugin
        reads no limits); the metadata shows the quotas the cluster holds."""
        return set()

    def get_resource_metadata(self, resource_backend_id: str) -> dict[str, Any]:
        """Where to connect, storage summary and quotas, shown on the resource in Waldur."""
        uid = resource_backend_id
        user = self.croit.user(uid)
        if user is None:
            return {}
        buckets = self.croit.buckets(uid)
        metadata: dict[str, Any] = {
            # Flat, for an offering's "getting started" text; the keys are Waldur's API keys.
            "s3_endpoint": self.settings.endpoint,
            "s3_region": self.settings.s3_region,
            "s3_user": uid,
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
        return metadata

    # -- terminate ------------------------------------------------------------------------------

    def delete_resource(self, waldur_resource: WaldurResource, **kwargs: Any) -> str | None:
        uid = waldur_resource.backend_id
        if not uid:
            self.log.info("resource %s has no S3 user, nothing to delete", waldur_resource.uuid)
            return None
        if self.soft_deletes and self.croit.user(uid) is not None:
            return self.soft_delete_resource(waldur_resource)
        try:
            self.croit.delete_user(uid)
        except NotFound:
            self.log.info("S3 user %s is already gone", uid)
            return None
        self.log.info("S3 user %s deleted", uid)
        return None

    def soft_delete_resource(self, waldur_resource: WaldurResource) -> str | None:
        """The user and its data stay; it can store nothing more (zero quotas, both scopes)
        and has no key: nothing reaches the data until a Restore gives it quotas and the core
        new keys."""
        uid = waldur_resource.backend_id
        nothing = quotas.Ceilings(size=0, objects=0).body()
        self.croit.set_quota(uid, "user", nothing)
        self.croit.set_quota(uid, "bucket", nothing)
        self._drop_keys(uid, "a key (soft delete)")
        self.log.info("soft-deleted S3 user %s: zero quotas, no key, data kept", uid)
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


class CroitS3MetadataKeysBackend(CroitS3Backend):
    """`croit_s3`: as `ceph_s3`, and the metadata also shows the user's first key as
    `s3_credentials` `{access_key, secret_key, endpoint, region}`, where the users and scripts
    of a site coming from upstream's `croit_s3` (1.0.5) read it. That key is one of the
    resource's API keys; everyone who can see the resource in Waldur can read it."""

    def __init__(
        self, backend_settings: dict[str, Any], backend_components: dict[str, dict[str, Any]]
    ) -> None:
        super().__init__(backend_settings, backend_components)
        self.backend_type = "croit_s3"

    def get_resource_metadata(self, resource_backend_id: str) -> dict[str, Any]:
        metadata = super().get_resource_metadata(resource_backend_id)
        held = self.croit.keys(resource_backend_id) if metadata else []
        if not held:
            return metadata  # no user, or none of its keys minted yet
        credentials = {
            "access_key": str(held[0]["access_key"]),
            "secret_key": str(held[0]["secret_key"]),
            "endpoint": self.settings.endpoint,
            "region": self.settings.s3_region,
        }
        return {"s3_credentials": credentials, **metadata}

    def key_bearing_metadata(self, resource_backend_id: str) -> dict[str, Any] | None:
        return self.get_resource_metadata(resource_backend_id)


def _checked(data: dict[str, Any], schema: type[T], what: str) -> T:
    """Settings are validated by `validate` already; this is for a plugin built without it."""
    try:
        return msgspec.convert(data, schema)
    except msgspec.ValidationError as exc:
        raise ConfigurationError(f"Ceph S3 {what}: {exc}") from None


def _quota(quota: dict[str, Any] | None) -> dict[str, Any]:
    quota = quota or {}
    return {
        "enabled": bool(quota.get("enabled", False)),
        "maxSize": quota.get("maxSize", quotas.UNLIMITED),
        "maxObjects": quota.get("maxObjects", quotas.UNLIMITED),
    }
