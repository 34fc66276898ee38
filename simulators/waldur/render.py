"""Serializers: stored objects to the JSON bodies Waldur answers with (waldur-api.md §2, §6)."""

from __future__ import annotations

from typing import Any

from waldur_site_agent_actors.simulators.waldur.http import Request
from waldur_site_agent_actors.simulators.waldur.state import Obj

CATEGORY_UUID = "5a1b7e0c3d2f4e6a8b9c0d1e2f3a4b5c"
PROVIDER_ROLES = ("CUSTOMER.OWNER", "CUSTOMER.MANAGER")


def _get(req: Request, kind: str, uuid: str | None) -> Obj:
    return req.state.get(kind, uuid) or {}


def _link(req: Request, collection: str, uuid: str | None) -> str | None:
    return req.url(collection, uuid) if uuid else None


def user(req: Request, u: Obj) -> Obj:
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
        "is_support": False,
        "civil_number": None,
        "organization": u.get("organization", ""),
        "date_joined": u["created"],
        "registration_method": "default",
    }


def me(req: Request, u: Obj) -> Obj:
    return {
        **user(req, u),
        "token": u["token"],
        "permissions": permissions(req, u),
        "preferred_language": "",
    }


def permissions(req: Request, u: Obj) -> list[Obj]:
    """Customer ownerships and project roles, as `MePermission` items."""
    found = []
    for c in req.state.all("customers"):
        if u["uuid"] in c.get("owners", []):
            found.append(
                {
                    "role_name": "CUSTOMER.OWNER",
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
                "role_name": role["role"],
                "scope_type": "project",
                "scope_uuid": role["project"],
                "scope_name": p.get("name"),
                "customer_uuid": c.get("uuid"),
                "customer_name": c.get("name"),
                "project_uuid": role["project"],
                "expiration_time": role.get("expiration_time"),
            }
        )
    return found


def customer(req: Request, c: Obj) -> Obj:
    return {
        "url": req.url("customers", c["uuid"]),
        "uuid": c["uuid"],
        "name": c["name"],
        "slug": c["slug"],
        "abbreviation": c.get("abbreviation", ""),
        "native_name": "",
        "email": c.get("email", ""),
        "created": c["created"],
        "owners": [{"uuid": u, "url": req.url("users", u)} for u in c.get("owners", [])],
    }


def project(req: Request, p: Obj) -> Obj:
    c = _get(req, "customers", p["customer"])
    return {
        "url": req.url("projects", p["uuid"]),
        "uuid": p["uuid"],
        "name": p["name"],
        "slug": p["slug"],
        "description": p.get("description", ""),
        "customer": req.url("customers", p["customer"]),
        "customer_uuid": p["customer"],
        "customer_name": c.get("name"),
        "customer_slug": c.get("slug"),
        "customer_native_name": "",
        "created": p["created"],
        "start_date": p.get("start_date"),
        "end_date": p.get("end_date"),
        "backend_id": p.get("backend_id", ""),
        "kind": "default",
        "is_removed": False,
    }


def component(offering: Obj, c: Obj) -> Obj:
    return {
        "uuid": c["uuid"],
        "offering_uuid": offering["uuid"],
        "type": c["type"],
        "name": c["name"],
        "description": c.get("description", ""),
        "billing_type": c["billing_type"],
        "measured_unit": c.get("measured_unit", ""),
        "unit_factor": c.get("unit_factor", 1),
        "limit_period": c.get("limit_period"),
        "limit_amount": c.get("limit_amount"),
        "article_code": "",
        "max_value": c.get("max_value"),
        "min_value": c.get("min_value"),
        "is_boolean": False,
        "default_limit": c.get("default_limit"),
        "factor": None,
        "is_builtin": False,
        "is_prepaid": False,
    }


def offering(req: Request, o: Obj) -> Obj:
    c = _get(req, "customers", o["customer"])
    return {
        "url": req.url("marketplace-provider-offerings", o["uuid"]),
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
        "secret_options": {},
        "attributes": o.get("attributes", {}),
        "options": {"order": [], "options": {}},
        "partitions": o.get("partitions", []),
        "plans": [plan(req, p) for p in req.state.find("plans", offering=o["uuid"])],
    }


def public_offering_url(req: Request, uuid: str) -> str:
    return req.url("marketplace-public-offerings", uuid)


def plan(req: Request, p: Obj) -> Obj:
    o = _get(req, "offerings", p["offering"])
    resources = req.state.find("resources", plan=p["uuid"])
    return {
        "url": req.url("marketplace-plans", p["uuid"]),
        "uuid": p["uuid"],
        "name": p["name"],
        "description": p.get("description", ""),
        "article_code": "",
        "max_amount": None,
        "archived": p.get("archived", False),
        "is_active": not p.get("archived", False),
        "unit_price": p.get("unit_price", "0.0000000"),
        "unit": p.get("unit", "month"),
        "init_price": 0,
        "switch_price": 0,
        "backend_id": "",
        "organization_groups": [],
        "components": [
            {
                "type": c["type"],
                "name": c["name"],
                "measured_unit": c.get("measured_unit", ""),
                "billing_type": c["billing_type"],
                "amount": p.get("quotas", {}).get(c["type"], 0),
                "price": p.get("prices", {}).get(c["type"], "0.0000000"),
                "future_price": None,
                "discount_rate": None,
                "discount_threshold": None,
            }
            for c in o.get("components", [])
        ],
        "offering": req.url("marketplace-provider-offerings", p["offering"]),
        "offering_uuid": p["offering"],
        "prices": {k: float(v) for k, v in p.get("prices", {}).items()},
        "future_prices": {},
        "quotas": p.get("quotas", {}),
        "resources_count": sum(r["state"] != "Terminated" for r in resources),
        "plan_type": "usage-based",
        "minimal_price": 0,
    }


def _resource_context(req: Request, r: Obj) -> Obj:
    o = _get(req, "offerings", r["offering"])
    p = _get(req, "projects", r["project"])
    c = _get(req, "customers", p.get("customer"))
    pl = _get(req, "plans", r.get("plan"))
    sp = req.state.first("service_providers", customer=o.get("customer"))
    return {
        "offering": req.url("marketplace-public-offerings", r["offering"]),
        "offering_uuid": r["offering"],
        "offering_name": o.get("name"),
        "offering_slug": o.get("slug"),
        "offering_type": o.get("type"),
        "offering_description": o.get("description", ""),
        "offering_plugin_options": o.get("plugin_options", {}),
        "offering_backend_id": o.get("backend_id", ""),
        "offering_shared": True,
        "offering_billable": True,
        "provider_uuid": sp["uuid"] if sp else None,
        "provider_name": _get(req, "customers", o.get("customer")).get("name"),
        "provider_slug": _get(req, "customers", o.get("customer")).get("slug"),
        "category_uuid": CATEGORY_UUID,
        "category_title": "HPC",
        "project": req.url("projects", r["project"]),
        "project_uuid": r["project"],
        "project_name": p.get("name"),
        "project_slug": p.get("slug"),
        "project_description": p.get("description", ""),
        "project_end_date": p.get("end_date"),
        "customer": req.url("customers", p.get("customer", "")),
        "customer_uuid": p.get("customer"),
        "customer_name": c.get("name"),
        "customer_slug": c.get("slug"),
        "plan": _link(req, "marketplace-public-plans", r.get("plan")),
        "plan_uuid": r.get("plan"),
        "plan_name": pl.get("name"),
        "plan_description": pl.get("description", "") if pl else None,
        "plan_unit": pl.get("unit") if pl else None,
    }


def resource(req: Request, r: Obj, collection: str = "marketplace-provider-resources") -> Obj:
    o = _get(req, "offerings", r["offering"])
    return {
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
        "limits": r.get("limits", {}),
        "attributes": r.get("attributes", {}),
        "options": r.get("options"),
        "backend_metadata": r.get("backend_metadata", {}),
        "current_usages": r.get("current_usages", {}),
        "limit_usage": {},
        "endpoints": [{"uuid": e["uuid"], **e} for e in r.get("endpoints", [])],
        "offering_components": [component(o, c) for c in o.get("components", [])],
        "report": None,
        "created": r["created"],
        "modified": r["modified"],
        "last_sync": r.get("last_sync", r["modified"]),
        "error_message": r.get("error_message", ""),
        "error_traceback": r.get("error_traceback", ""),
        "restrict_member_access": r.get("restrict_member_access", False),
        "paused": r.get("paused", False),
        "downscaled": r.get("downscaled", False),
        "end_date": r.get("end_date"),
        "end_date_requested_by": None,
        "username": None,
        "is_usage_based": True,
        "is_limit_based": any(c["billing_type"] == "limit" for c in o.get("components", [])),
        "can_terminate": r["state"] in ("OK", "Erred"),
        "order_in_progress": None,
        "user_requires_reconsent": False,
    }


def order(req: Request, x: Obj) -> Obj:
    r = _get(req, "resources", x["resource"])
    creator = _get(req, "users", x.get("created_by"))
    reviewer = _get(req, "users", x.get("provider_reviewed_by"))
    context = _resource_context(req, {**r, "plan": x.get("plan")})
    return {
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
        "limits": x.get("limits", {}),
        "attributes": x.get("attributes", {}),
        "old_plan_uuid": x.get("old_plan"),
        "new_plan_uuid": x.get("plan") if x["type"] == "Update" else None,
        "old_plan_name": _get(req, "plans", x.get("old_plan")).get("name"),
        "new_plan_name": None,
        "backend_id": x.get("backend_id", ""),
        "error_message": x.get("error_message", ""),
        "error_traceback": x.get("error_traceback", ""),
        "completed_at": x.get("completed_at"),
        "start_date": x.get("start_date"),
        "cost": None,
        "created_by_username": creator.get("username"),
        "created_by_full_name": creator.get("full_name"),
        "created_by_civil_number": None,
        "consumer_reviewed_by": None,
        "consumer_reviewed_at": x.get("consumer_reviewed_at"),
        "provider_reviewed_by": x.get("provider_reviewed_by"),
        "provider_reviewed_by_username": reviewer.get("username"),
        "provider_reviewed_by_full_name": reviewer.get("full_name"),
        "provider_reviewed_at": x.get("provider_reviewed_at"),
        "provider_rejection_comment": x.get("provider_rejection_comment", ""),
        "can_terminate": False,
        "callback_url": None,
        "termination_comment": None,
        "request_comment": None,
        "fixed_price": None,
        "activation_price": None,
        "issue": None,
    }


def offering_user(req: Request, ou: Obj) -> Obj:
    u = _get(req, "users", ou["user"])
    o = _get(req, "offerings", ou["offering"])
    c = _get(req, "customers", o.get("customer"))
    return {
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
        "has_consent": True,
        "requires_reconsent": False,
        "has_compliance_checklist": False,
        "created": ou["created"],
        "modified": ou["modified"],
    }


def team_member(req: Request, role: Obj, offering_uuid: str) -> Obj:
    u = _get(req, "users", role["user"])
    ou = req.state.first("offering_users", offering=offering_uuid, user=role["user"])
    return {
        "url": req.url("users", role["user"]),
        "uuid": role["user"],
        "username": u.get("username"),
        "full_name": u.get("full_name"),
        "email": u.get("email"),
        "role": role["role"],
        "expiration_time": role.get("expiration_time"),
        "offering_user_username": ou.get("username") if ou else None,
        "offering_user_state": ou["state"] if ou else None,
    }


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
    return {
        **_usage_context(req, r),
        "uuid": cu["uuid"],
        "created": cu["created"],
        "modified": cu["modified"],
        "date": cu["date"],
        "description": cu.get("description", ""),
        "type": cu["type"],
        "name": comp.get("name", cu["type"]),
        "measured_unit": comp.get("measured_unit", ""),
        "usage": cu["usage"],
        "billing_period": cu["billing_period"],
        "recurring": cu.get("recurring", False),
        "missing_usage_policy": cu.get("missing_usage_policy", "none"),
        "backend_id": "",
        "modified_by": cu.get("modified_by"),
    }


def user_usage(req: Request, uu: Obj) -> Obj:
    cu = _get(req, "component_usages", uu["component_usage"])
    r = _get(req, "resources", cu.get("resource"))
    return {
        **_usage_context(req, r),
        "uuid": uu["uuid"],
        "created": uu["created"],
        "modified": uu["modified"],
        "usage": uu["usage"],
        "description": uu.get("description", ""),
        "username": uu["username"],
        "user": _link(req, "marketplace-offering-users", uu.get("user")),
        "component_usage": req.url("marketplace-component-usages", uu["component_usage"]),
        "component_type": cu.get("type"),
        "measured_unit": "",
        "date": uu["date"],
        "billing_period": cu.get("billing_period"),
        "backend_id": "",
    }


def user_usage_limit(req: Request, lim: Obj) -> Obj:
    r = _get(req, "resources", lim["resource"])
    o = _get(req, "offerings", r.get("offering"))
    comp: Obj = next((c for c in o.get("components", []) if c["type"] == lim["component_type"]), {})
    ou = _get(req, "offering_users", lim["offering_user"])
    return {
        "url": req.url("component-user-usage-limits", lim["uuid"]),
        "uuid": lim["uuid"],
        "resource": req.url("marketplace-resources", lim["resource"]),
        "resource_uuid": lim["resource"],
        "component": comp.get("uuid"),
        "component_type": lim["component_type"],
        "user": ou.get("username"),
        "offering_user": req.url("marketplace-offering-users", lim["offering_user"]),
        "limit": lim["limit"],
    }


def service_provider(req: Request, sp: Obj) -> Obj:
    c = _get(req, "customers", sp["customer"])
    return {
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
    }


def ssh_key(req: Request, k: Obj) -> Obj:
    u = _get(req, "users", k["user"])
    return {
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
        "user_username": u.get("username"),
    }


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
    return {
        **_account_context(req, a),
        "url": req.url("marketplace-project-service-accounts", a["uuid"]),
        "token": None,
        "expires_at": None,
        "customer_abbreviation": c.get("abbreviation", ""),
        "preferred_identifier": a.get("username"),
    }


def course_account(req: Request, a: Obj) -> Obj:
    p = _get(req, "projects", a["project"])
    return {
        **_account_context(req, a),
        "url": req.url("marketplace-course-accounts", a["uuid"]),
        "project_slug": p.get("slug"),
        "project_start_date": p.get("start_date"),
        "project_end_date": p.get("end_date"),
        "user_uuid": a.get("user"),
    }


def status(message: str) -> Obj:
    return {"status": message}


def plain(obj: Obj, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in drop}
