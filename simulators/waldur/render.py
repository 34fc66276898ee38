"""Serializers: stored objects to the JSON bodies Waldur answers with (waldur-api.md §2, §6).

Each body carries every key of its schema model: the values the simulator knows, and for the rest
the schema-typed empty values of the generated table `fields.EMPTY` (see `schema.py`).
"""

from __future__ import annotations

import functools
import uuid as uuidlib
from typing import Any

from waldur_site_agent_actors.simulators.waldur.fields import EMPTY
from waldur_site_agent_actors.simulators.waldur.http import Request
from waldur_site_agent_actors.simulators.waldur.state import Obj

CATEGORY_UUID = "5a1b7e0c3d2f4e6a8b9c0d1e2f3a4b5c"
EXPOSED_FIELDS = ["username", "full_name", "email"]
"""Mastermind's default user-attribute-config: what a provider sees of its offering users."""
PROFILE_FIELDS = (
    "gender",
    "personal_title",
    "birth_date",
    "country_of_residence",
    "organization_type",
)
"""Profile attributes an offering user shows only when the offering's config exposes them."""
PROVIDER_ROLES = ("CUSTOMER.OWNER", "CUSTOMER.MANAGER")
ACCOUNT_SETTINGS = (
    "account_scope",
    "username_generation_policy",
    "username_anonymized_prefix",
    "homedir_prefix",
    "login_shell",
)

# Keys a body may lack. Mastermind leaves them out: DRF skips a read-only field whose dotted
# source crosses an absent relation (`offering.parent.uuid` of an offering without a parent),
# and the simulator has no parent offerings or resources, service settings, science domains or
# role granters.
ABSENT: dict[str, frozenset[str]] = {
    "Resource": frozenset(
        {
            "parent_offering_uuid",
            "parent_offering_name",
            "parent_offering_slug",
            "parent_uuid",
            "parent_name",
            "service_settings_uuid",
        }
    ),
    "Project": frozenset({"science_domain_uuid", "science_domain_name", "science_domain_code"}),
    "UserRoleDetails": frozenset({"created_by_uuid", "created_by_full_name"}),
    # non-null in the schema, so left out where the simulator has none: a component without a
    # limit period, and the discount settings of a simulator without discounts
    "NestedPlanComponent": frozenset({"limit_period", "discount_aggregation"}),
}
_MUTABLE = {
    model: tuple(k for k, v in values.items() if isinstance(v, list | dict))
    for model, values in EMPTY.items()
}


def complete(model: str, body: Obj) -> Obj:
    """`body` with every other key of `model` at its empty value, in schema order."""
    full = {**EMPTY[model], **body}
    for key in _MUTABLE[model]:
        if key not in body:
            full[key] = _copied(full[key])  # no body shares a list or dict with the table
    for key in ABSENT.get(model, ()):
        if key not in body:
            full.pop(key, None)
    return full


def _copied(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copied(v) for v in value]
    return value


@functools.cache
def derived_uuid(*parts: str) -> str:
    """A stable UUID for what Waldur keeps as a row and the simulator does not (roles,
    partitions): the same names always give the same UUID."""
    return uuidlib.uuid5(uuidlib.NAMESPACE_URL, "waldur-simulator:" + ":".join(parts)).hex


def role_uuid(role_name: str) -> str:
    return derived_uuid("role", role_name)


def _get(req: Request, kind: str, uuid: str | None) -> Obj:
    return req.state.get(kind, uuid) or {}


def _link(req: Request, collection: str, uuid: str | None) -> str | None:
    return req.url(collection, uuid) if uuid else None


def _user_fields(req: Request, u: Obj) -> Obj:
    return {
        "url": req.url("users", u["uuid"]),
        "uuid": u["uuid"],
        "username": u["username"],
        "full_name": u["full_name"],
        "first_name": u.get("first_name", ""),
        "last_name": u.get("last_name", ""),
        "email": u["email"],
        "is_staff": u["is_staff"],
        "is_active": u["is_active"],
        "organization": u.get("organization", ""),
        "date_joined": u["created"],
        "registration_method": "default",
    }


def user(req: Request, u: Obj) -> Obj:
    return complete(
        "User",
        {
            **_user_fields(req, u),
            "permissions": [complete("Permission", p) for p in _grants(req, u, detailed=True)],
        },
    )


def me(req: Request, u: Obj) -> Obj:
    return complete(
        "UserMe",
        {
            **_user_fields(req, u),
            "token": u["token"],
            "permissions": [complete("MePermission", p) for p in _grants(req, u)],
        },
    )


def _grants(req: Request, u: Obj, *, detailed: bool = False) -> list[Obj]:
    """Customer ownerships and project roles: `MePermission` items, `Permission` ones when
    `detailed`."""
    found = []
    for c in req.state.all("customers"):
        if u["uuid"] in c.get("owners", []):
            grant = {"uuid": derived_uuid("owner", c["uuid"], u["uuid"]), "created": c["created"]}
            found.append(
                {
                    **(grant if detailed else {}),
                    "role_name": "CUSTOMER.OWNER",
                    "role_uuid": role_uuid("CUSTOMER.OWNER"),
                    "scope_type": "customer",
                    "scope_uuid": c["uuid"],
                    "scope_name": c["name"],
                    "customer_uuid": c["uuid"],
                    "customer_name": c["name"],
                    "expiration_time": None,
                }
            )
    for role in req.state.find("roles", user=u["uuid"]):
        p = _get(req, "projects", role["project"])
        c = _get(req, "customers", p.get("customer"))
        found.append(
            {
                **({"uuid": role["uuid"], "created": role["created"]} if detailed else {}),
                "role_name": role["role"],
                "role_uuid": role_uuid(role["role"]),
                "scope_type": "project",
                "scope_uuid": role["project"],
                "scope_name": p.get("name"),
                "customer_uuid": c.get("uuid"),
                "customer_name": c.get("name"),
                "project_uuid": role["project"],
                "expiration_time": role.get("expiration_time"),
            }
        )
    if detailed:
        person = {
            "user_uuid": u["uuid"],
            "user_name": u["full_name"],
            "user_username": u["username"],
            "user_email": u["email"],
            "is_active": True,
        }
        found = [{**grant, **person} for grant in found]
    return found


def customer(req: Request, c: Obj) -> Obj:
    projects = req.state.find("projects", customer=c["uuid"])
    members = set(c.get("owners", []))
    for p in projects:
        members.update(role["user"] for role in req.state.find("roles", project=p["uuid"]))
    sp = req.state.first("service_providers", customer=c["uuid"])
    sp_uuid = sp["uuid"] if sp else None
    return complete(
        "Customer",
        {
            "url": req.url("customers", c["uuid"]),
            "uuid": c["uuid"],
            "name": c["name"],
            "display_name": c["name"],
            "slug": c["slug"],
            "abbreviation": c.get("abbreviation", ""),
            "email": c.get("email", ""),
            "created": c["created"],
            "accounting_start_date": c["created"],
            "projects_count": len(projects),
            "users_count": len(members),
            "is_service_provider": sp is not None,
            "service_provider": _link(req, "marketplace-service-providers", sp_uuid),
            "service_provider_uuid": sp_uuid,
        },
    )


# Languages Waldur keeps a role's description in.
LANGUAGES: tuple[str, ...] = ("en", "et", "lt", "lv", "ru", "it", "de", "da")
LANGUAGES += ("sv", "es", "fr", "nb", "ar", "cs", "hr", "km")


def role(r: Obj) -> Obj:
    """A project role: system-wide, no template, no customer of its own."""
    description = r["name"].split(".")[-1].title()
    return {
        "uuid": r["uuid"],
        "name": r["name"],
        "description": description,
        **{f"description_{language}": description for language in LANGUAGES},
        "permissions": [],
        "is_system_role": True,
        "is_active": True,
        "users_count": r["users_count"],
        "content_type": "project",
        "template_uuid": None,
        "template_name": None,
        "customer_uuid": None,
        "customer_name": None,
    }


def project(req: Request, p: Obj) -> Obj:
    c = _get(req, "customers", p["customer"])
    live = [r for r in req.state.find("resources", project=p["uuid"]) if r["state"] != "Terminated"]
    return complete(
        "Project",
        {
            "url": req.url("projects", p["uuid"]),
            "uuid": p["uuid"],
            "name": p["name"],
            "slug": p["slug"],
            "description": p.get("description", ""),
            "customer": req.url("customers", p["customer"]),
            "customer_uuid": p["customer"],
            "customer_name": c.get("name"),
            "customer_slug": c.get("slug"),
            "customer_abbreviation": c.get("abbreviation", ""),
            "created": p["created"],
            "start_date": p.get("start_date"),
            "end_date": p.get("end_date"),
            "end_date_requested_by": _link(req, "users", p.get("end_date_requested_by")),
            "end_date_updated_at": p.get("end_date_updated_at"),
            "effective_end_date": p.get("end_date"),
            "backend_id": p.get("backend_id", ""),
            "kind": "default",
            "resources_count": len(live),
            "marketplace_resource_count": {CATEGORY_UUID: len(live)} if live else {},
        },
    )


def component(offering: Obj, c: Obj) -> Obj:
    """Every setting the component was given, and Mastermind's defaults for the rest."""
    given = {k: v for k, v in c.items() if k in EMPTY["OfferingComponent"]}
    return complete(
        "OfferingComponent",
        {
            "uuid": c["uuid"],
            "offering_uuid": offering["uuid"],
            "billing_type": c["billing_type"],
            "unit_factor": 1,
            **given,
        },
    )


def offering(req: Request, o: Obj, public: bool = False) -> Obj:
    """`ProviderOfferingDetails`, or `PublicOfferingDetails` (no secret options) when `public`."""
    c = _get(req, "customers", o["customer"])
    plans = req.state.find("plans", offering=o["uuid"])
    body = {
        "url": req.url(
            "marketplace-public-offerings" if public else "marketplace-provider-offerings",
            o["uuid"],
        ),
        "uuid": o["uuid"],
        "name": o["name"],
        "slug": o["slug"],
        "description": o.get("description", ""),
        "customer": req.url("customers", o["customer"]),
        "customer_uuid": o["customer"],
        "customer_name": c.get("name"),
        "category": req.url("marketplace-categories", CATEGORY_UUID),
        "category_uuid": CATEGORY_UUID,
        "category_title": "HPC",
        "type": o["type"],
        "state": o["state"],
        "shared": True,
        "billable": True,
        "backend_id": o.get("backend_id", ""),
        "created": o["created"],
        "components": [component(o, x) for x in o["components"]],
        "plugin_options": o["plugin_options"],
        "account_settings": account_settings(o),
        "attributes": o.get("attributes", {}),
        "partitions": [partition(o, x) for x in o.get("partitions", [])],
        "plans": [plan(req, p, "BasePublicPlan" if public else "BaseProviderPlan") for p in plans],
        "order_count": len(req.state.find("orders", offering=o["uuid"])),
    }
    if public:
        return complete("PublicOfferingDetails", body)
    return complete("ProviderOfferingDetails", {**body, "secret_options": {}})


def account_settings(o: Obj) -> Obj:
    """How the offering's account options resolve: its own plugin option where it sets one.
    Mastermind's defaults and provider-level options are not simulated (empty, `default`)."""
    resolved = {}
    for key in ACCOUNT_SETTINGS:
        value = o["plugin_options"].get(key)
        inherited = {"value": "", "source": "default"}
        resolved[key] = (
            {"value": value, "source": "offering", "inherited": inherited}
            if value
            else {**inherited, "inherited": inherited}
        )
    return resolved


def partition(o: Obj, p: Obj) -> Obj:
    name = p.get("partition_name", "")
    return complete("NestedPartition", {"uuid": derived_uuid("partition", o["uuid"], name), **p})


def plan(req: Request, p: Obj, model: str = "ProviderPlanDetails") -> Obj:
    """A plan alone (`ProviderPlanDetails`) or in its offering (`BaseProviderPlan`,
    `BasePublicPlan`: without the offering link)."""
    o = _get(req, "offerings", p["offering"])
    resources = req.state.find("resources", plan=p["uuid"])
    body = {
        "url": req.url("marketplace-plans", p["uuid"]),
        "uuid": p["uuid"],
        "name": p["name"],
        "description": p.get("description", ""),
        "archived": p.get("archived", False),
        "is_active": not p.get("archived", False),
        "unit_price": p.get("unit_price", "0.0000000"),
        "unit": p.get("unit", "month"),
        "init_price": 0,
        "switch_price": 0,
        "components": [
            complete(
                "NestedPlanComponent",
                {
                    "type": c["type"],
                    "name": c["name"],
                    "measured_unit": c.get("measured_unit", ""),
                    "billing_type": c["billing_type"],
                    **({"limit_period": c["limit_period"]} if c.get("limit_period") else {}),
                    "amount": p.get("quotas", {}).get(c["type"], 0),
                    "price": p.get("prices", {}).get(c["type"], "0.0000000"),
                    "future_price": None,
                },
            )
            for c in o.get("components", [])
        ],
        "prices": {k: float(v) for k, v in p.get("prices", {}).items()},
        "quotas": p.get("quotas", {}),
        "resources_count": sum(r["state"] != "Terminated" for r in resources),
        "plan_type": "usage-based",
    }
    if model == "ProviderPlanDetails":
        body["offering"] = req.url("marketplace-provider-offerings", p["offering"])
    return complete(model, body)


def _resource_context(req: Request, r: Obj) -> Obj:
    """The keys an order shares with its resource: offering, provider, plan, project, customer."""
    o = _get(req, "offerings", r["offering"])
    p = _get(req, "projects", r["project"])
    c = _get(req, "customers", p.get("customer"))
    provider = _get(req, "customers", o.get("customer"))
    pl = _get(req, "plans", r.get("plan"))
    sp = req.state.first("service_providers", customer=o.get("customer"))
    return {
        "offering": req.url("marketplace-public-offerings", r["offering"]),
        "offering_uuid": r["offering"],
        "offering_name": o.get("name"),
        "offering_type": o.get("type"),
        "offering_description": o.get("description", ""),
        "offering_plugin_options": o.get("plugin_options", {}),
        "offering_shared": True,
        "offering_billable": True,
        **({"provider_uuid": sp["uuid"]} if sp else {}),
        "provider_name": provider.get("name"),
        "provider_slug": provider.get("slug"),
        "category_uuid": CATEGORY_UUID,
        "category_title": "HPC",
        "project_uuid": r["project"],
        "project_name": p.get("name"),
        "project_slug": p.get("slug"),
        "project_description": p.get("description", ""),
        "customer_uuid": p.get("customer"),
        "customer_name": c.get("name"),
        "customer_slug": c.get("slug"),
        "plan": _link(req, "marketplace-public-plans", r.get("plan")) or "",  # schema: not null
        "plan_uuid": r.get("plan"),
        "plan_name": pl.get("name"),
        "plan_description": pl.get("description", "") if pl else None,
        "plan_unit": pl.get("unit") if pl else None,
    }


OPEN_ORDER_STATES = (
    "pending-consumer",
    "pending-provider",
    "pending-project",
    "pending-start-date",
    "executing",
)


def resource(req: Request, r: Obj, collection: str = "marketplace-provider-resources") -> Obj:
    o = _get(req, "offerings", r["offering"])
    p = _get(req, "projects", r["project"])
    orders = req.state.find("orders", resource=r["uuid"])
    creation = next((x for x in orders if x["type"] == "Create"), None)
    in_progress = next((x for x in reversed(orders) if x["state"] in OPEN_ORDER_STATES), None)
    return complete(
        "Resource",
        {
            **_resource_context(req, r),
            "url": req.url(collection, r["uuid"]),
            "uuid": r["uuid"],
            "name": r["name"],
            "slug": r["slug"],
            "description": r.get("description", ""),
            "state": r["state"],
            "resource_uuid": None,
            "resource_type": o.get("type"),
            "backend_id": r.get("backend_id", ""),
            "effective_id": r.get("effective_id", ""),
            "offering_slug": o.get("slug"),
            "offering_backend_id": o.get("backend_id", ""),
            "offering_state": o.get("state"),
            "offering_account_settings": account_settings(o),
            "project": req.url("projects", r["project"]),
            "project_start_date": p.get("start_date"),
            "project_end_date": p.get("end_date"),
            "project_effective_end_date": p.get("end_date"),
            "limits": r.get("limits", {}),
            "attributes": r.get("attributes", {}),
            "options": r.get("options"),
            "backend_metadata": r.get("backend_metadata", {}),
            "current_usages": r.get("current_usages", {}),
            "endpoints": [complete("NestedEndpoint", e) for e in r.get("endpoints", [])],
            "offering_components": [component(o, c) for c in o.get("components", [])],
            "created": r["created"],
            "modified": r["modified"],
            "last_sync": r.get("last_sync", r["modified"]),
            "error_message": r.get("error_message", ""),
            "error_traceback": r.get("error_traceback", ""),
            "restrict_member_access": r.get("restrict_member_access", False),
            "paused": r.get("paused", False),
            "downscaled": r.get("downscaled", False),
            "end_date": r.get("end_date"),
            "end_date_requested_by": _link(req, "users", r.get("end_date_requested_by")),
            "end_date_updated_at": r.get("end_date_updated_at"),
            "resource_effective_end_date": r.get("end_date"),
            "is_usage_based": any(c["billing_type"] == "usage" for c in o.get("components", [])),
            "is_limit_based": any(c["billing_type"] == "limit" for c in o.get("components", [])),
            "can_terminate": r["state"] in ("OK", "Erred"),
            "creation_order": order(req, creation) if creation else None,
            "order_in_progress": order(req, in_progress) if in_progress else None,
            "has_api_keys": req.state.first("api_keys", resource=r["uuid"]) is not None,
        },
    )


def order(req: Request, x: Obj) -> Obj:
    r = _get(req, "resources", x["resource"])
    creator = _get(req, "users", x.get("created_by"))
    consumer = _get(req, "users", x.get("consumer_reviewed_by"))
    provider = _get(req, "users", x.get("provider_reviewed_by"))
    context = _resource_context(req, {**r, "plan": x.get("plan")})
    return complete(
        "OrderDetails",
        {
            **context,
            "url": req.url("marketplace-orders", x["uuid"]),
            "uuid": x["uuid"],
            "created": x["created"],
            "modified": x["modified"],
            "type": x["type"],
            "state": x["state"],
            "resource_uuid": None,
            "marketplace_resource_uuid": x["resource"],
            "resource_name": r.get("name"),
            "resource_type": context["offering_type"],
            "resource_end_date": r.get("end_date"),
            "limits": x.get("limits", {}),
            "attributes": x.get("attributes", {}),
            "old_plan_uuid": x.get("old_plan"),
            "new_plan_uuid": x.get("plan") if x["type"] == "Update" else None,
            "old_plan_name": _get(req, "plans", x.get("old_plan")).get("name"),
            "new_plan_name": (
                _get(req, "plans", x.get("plan")).get("name") if x["type"] == "Update" else None
            ),
            "backend_id": x.get("backend_id", ""),
            "error_message": x.get("error_message", ""),
            "error_traceback": x.get("error_traceback", ""),
            "completed_at": x.get("completed_at"),
            "start_date": x.get("start_date"),
            "created_by_username": creator.get("username"),
            "created_by_full_name": creator.get("full_name"),
            "created_by_email": creator.get("email"),
            "created_by_organization": creator.get("organization"),
            "consumer_reviewed_by": consumer.get("username"),
            "consumer_reviewed_by_username": consumer.get("username"),
            "consumer_reviewed_by_full_name": consumer.get("full_name"),
            "consumer_reviewed_at": x.get("consumer_reviewed_at"),
            "provider_reviewed_by": provider.get("username"),
            "provider_reviewed_by_username": provider.get("username"),
            "provider_reviewed_by_full_name": provider.get("full_name"),
            "provider_reviewed_at": x.get("provider_reviewed_at"),
            "provider_rejection_comment": x.get("provider_rejection_comment", ""),
        },
    )


def offering_user(req: Request, ou: Obj) -> Obj:
    u = _get(req, "users", ou["user"])
    o = _get(req, "offerings", ou["offering"])
    c = _get(req, "customers", o.get("customer"))
    return complete(
        "OfferingUser",
        {
            "url": req.url("marketplace-offering-users", ou["uuid"]),
            "uuid": ou["uuid"],
            "user": req.url("users", ou["user"]),
            "user_uuid": ou["user"],
            "user_username": u.get("username"),
            "user_full_name": u.get("full_name"),
            "user_email": u.get("email"),
            "user_first_name": u.get("first_name", ""),
            "user_last_name": u.get("last_name", ""),
            "user_organization": u.get("organization", ""),
            **{
                f"user_{name}": u.get(name)
                for name in PROFILE_FIELDS
                if name in o.get("exposed_fields", EXPOSED_FIELDS) and u.get(name) is not None
            },
            "user_civil_number": None,
            "user_affiliations": [],
            "offering": req.url("marketplace-provider-offerings", ou["offering"]),
            "offering_uuid": ou["offering"],
            "offering_name": o.get("name"),
            "customer_uuid": o.get("customer"),
            "customer_name": c.get("name"),
            "username": ou.get("username"),
            "state": ou["state"],
            "runtime_state": "Active",
            "is_restricted": ou.get("is_restricted", False),
            "service_provider_comment": ou.get("service_provider_comment", ""),
            "service_provider_comment_url": ou.get("service_provider_comment_url", ""),
            "has_consent": ou.get("has_consent", True),
            "requires_reconsent": False,
            "has_compliance_checklist": False,
            "created": ou["created"],
            "modified": ou["modified"],
        },
    )


def team_member(req: Request, role: Obj, offering_uuid: str) -> Obj:
    u = _get(req, "users", role["user"])
    ou = req.state.first("offering_users", offering=offering_uuid, user=role["user"])
    return complete(
        "ProjectUser",
        {
            "url": req.url("users", role["user"]),
            "uuid": role["user"],
            "username": u.get("username"),
            "full_name": u.get("full_name"),
            "email": u.get("email"),
            "role": role["role"],
            "expiration_time": role.get("expiration_time"),
            "offering_user_username": ou.get("username") if ou else None,
            "offering_user_state": ou["state"] if ou else None,
        },
    )


def _usage_context(req: Request, r: Obj) -> Obj:
    o = _get(req, "offerings", r.get("offering"))
    p = _get(req, "projects", r.get("project"))
    c = _get(req, "customers", p.get("customer"))
    return {
        "resource_name": r.get("name"),
        "resource_uuid": r.get("uuid"),
        "offering_name": o.get("name"),
        "offering_uuid": o.get("uuid"),
        "project_name": p.get("name"),
        "project_uuid": p.get("uuid"),
        "customer_name": c.get("name"),
        "customer_uuid": c.get("uuid"),
    }


def component_usage(req: Request, cu: Obj) -> Obj:
    r = _get(req, "resources", cu["resource"])
    o = _get(req, "offerings", r.get("offering"))
    comp: Obj = next((c for c in o.get("components", []) if c["type"] == cu["type"]), {})
    return complete(
        "ComponentUsage",
        {
            **_usage_context(req, r),
            "uuid": cu["uuid"],
            "created": cu["created"],
            "date": cu["date"],
            "description": cu.get("description", ""),
            "type": cu["type"],
            "name": comp.get("name", cu["type"]),
            "measured_unit": comp.get("measured_unit", ""),
            "usage": cu["usage"],
            "billing_period": cu["billing_period"],
            "recurring": cu.get("recurring", False),
            "missing_usage_policy": cu.get("missing_usage_policy", "none"),
            "modified_by": cu.get("modified_by"),
        },
    )


def user_usage(req: Request, uu: Obj) -> Obj:
    cu = _get(req, "component_usages", uu["component_usage"])
    r = _get(req, "resources", cu.get("resource"))
    o = _get(req, "offerings", r.get("offering"))
    comp: Obj = next((c for c in o.get("components", []) if c["type"] == cu.get("type")), {})
    return complete(
        "ComponentUserUsage",
        {
            **_usage_context(req, r),
            "uuid": uu["uuid"],
            "created": uu["created"],
            "modified": uu["modified"],
            "usage": uu["usage"],
            "description": uu.get("description", ""),
            "username": uu["username"],
            "user": _link(req, "marketplace-offering-users", uu.get("user")) or "",
            "component_usage": req.url("marketplace-component-usages", uu["component_usage"]),
            "component_type": cu.get("type"),
            "measured_unit": comp.get("measured_unit", ""),
            "date": uu["date"],
            "billing_period": cu.get("billing_period"),
        },
    )


def user_usage_limit(req: Request, lim: Obj) -> Obj:
    r = _get(req, "resources", lim["resource"])
    o = _get(req, "offerings", r.get("offering"))
    comp: Obj = next((c for c in o.get("components", []) if c["type"] == lim["component_type"]), {})
    ou = _get(req, "offering_users", lim["offering_user"])
    return complete(
        "ComponentUserUsageLimit",
        {
            "url": req.url("component-user-usage-limits", lim["uuid"]),
            "uuid": lim["uuid"],
            "resource": req.url("marketplace-resources", lim["resource"]),
            "component": comp.get("uuid"),
            "component_type": lim["component_type"],
            "user": ou.get("username") or "",  # the offering user's username, as upstream reads it
            "limit": lim["limit"],
        },
    )


def service_provider(req: Request, sp: Obj) -> Obj:
    c = _get(req, "customers", sp["customer"])
    return complete(
        "ServiceProvider",
        {
            "url": req.url("marketplace-service-providers", sp["uuid"]),
            "uuid": sp["uuid"],
            "created": sp["created"],
            "description": "",
            "enable_notifications": True,
            "customer": req.url("customers", sp["customer"]),
            "customer_uuid": sp["customer"],
            "customer_name": c.get("name"),
            "customer_slug": c.get("slug"),
            "customer_abbreviation": c.get("abbreviation", ""),
            "customer_native_name": "",
            "customer_country": "",
            "image": None,
            "organization_groups": [],
        },
    )


def ssh_key(req: Request, k: Obj) -> Obj:
    return complete(
        "SshKey",
        {
            "url": req.url("keys", k["uuid"]),
            "uuid": k["uuid"],
            "name": k["name"],
            "public_key": k["public_key"],
            "fingerprint_md5": k.get("fingerprint_md5", ""),
            "fingerprint_sha256": k.get("fingerprint_sha256", ""),
            "fingerprint_sha512": "",
            "user_uuid": k["user"],
            "is_shared": False,
            "type": k["public_key"].split(" ", 1)[0],
        },
    )


def _account_context(req: Request, a: Obj) -> Obj:
    p = _get(req, "projects", a["project"])
    c = _get(req, "customers", p.get("customer"))
    return {
        "uuid": a["uuid"],
        "created": a["created"],
        "modified": a["modified"],
        "project": a["project"],
        "project_uuid": a["project"],
        "project_name": p.get("name"),
        "customer_uuid": c.get("uuid"),
        "customer_name": c.get("name"),
        "state": a["state"],
        "error_message": a.get("error_message", ""),
        "error_traceback": a.get("error_traceback", ""),
        "username": a.get("username"),
        "email": a.get("email", ""),
        "description": a.get("description", ""),
    }


def service_account(req: Request, a: Obj) -> Obj:
    c = _get(req, "customers", _get(req, "projects", a["project"]).get("customer"))
    return complete(
        "ProjectServiceAccount",
        {
            **_account_context(req, a),
            "url": req.url("marketplace-project-service-accounts", a["uuid"]),
            "token": None,
            "expires_at": None,
            "customer_abbreviation": c.get("abbreviation", ""),
            "preferred_identifier": a.get("username"),
        },
    )


def course_account(req: Request, a: Obj) -> Obj:
    p = _get(req, "projects", a["project"])
    return complete(
        "CourseAccount",
        {
            **_account_context(req, a),
            "url": req.url("marketplace-course-accounts", a["uuid"]),
            "project_slug": p.get("slug"),
            "project_start_date": p.get("start_date"),
            "project_end_date": p.get("end_date"),
            "user_uuid": a.get("user"),
        },
    )


def status(message: str) -> Obj:
    return complete("Status", {"status": message})


def order_uuid(uuid: str) -> Obj:
    return complete("OrderUUID", {"order_uuid": uuid})
