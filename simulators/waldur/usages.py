"""Component usages per resource, component and billing month; per-user usages and limits."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from waldur_site_agent_actors.simulators.waldur import access, render
from waldur_site_agent_actors.simulators.waldur.errors import ApiError, invalid
from waldur_site_agent_actors.simulators.waldur.http import Request, Response, Router, created
from waldur_site_agent_actors.simulators.waldur.listing import (
    a_date,
    a_datetime,
    paginate,
    parse_stamp,
    uuids,
)
from waldur_site_agent_actors.simulators.waldur.state import Obj, State, isoformat, parse_uuid

REPORTABLE_STATES = ("OK", "Updating", "Terminating")
POLICIES = ("none", "reuse", "zero")


def amount(raw: object, field: str) -> str:
    """A decimal with at most 2 places and 20 digits, rendered as DRF does: `"12.50"`."""
    try:
        value = Decimal(str(raw))
    except InvalidOperation as exc:
        raise invalid(field, "A valid number is required.") from exc
    if not value.is_finite():
        raise invalid(field, "A valid number is required.")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise invalid(field, "Ensure that there are no more than 2 decimal places.")
    if len(value.quantize(Decimal("0.01")).as_tuple().digits) > 20:
        raise invalid(field, "Ensure that there are no more than 20 digits in total.")
    return f"{value.quantize(Decimal('0.01')):f}"


def _moment(state: State, raw: object, field: str) -> datetime:
    if raw in (None, ""):
        return state.now()
    try:
        return parse_stamp(str(raw))
    except ValueError as exc:
        raise invalid(field, "Datetime has wrong format.") from exc


def month_start(moment: datetime) -> str:
    return date(moment.year, moment.month, 1).isoformat()


def _upsert_usage(state: State, r: Obj, ctype: str, moment: datetime, **values: object) -> Obj:
    period = month_start(moment)
    found = state.first("component_usages", resource=r["uuid"], type=ctype, billing_period=period)
    cu = found or {
        "resource": r["uuid"],
        "type": ctype,
        "billing_period": period,
        "usage": "0.00",
        "description": "",
    }
    cu["date"] = isoformat(moment)
    cu.update(values)
    return state.put("component_usages", cu)


def set_usage(req: Request) -> Response:
    data = req.data()
    if not data.get("resource") and not data.get("plan_period"):
        raise ApiError(
            400, {"non_field_errors": ["Either plan_period or resource should be provided."]}
        )
    r = req.state.get("resources", parse_uuid(data.get("resource")))
    if r is None:
        raise invalid("resource", "Object does not exist.")
    offering = req.state.get("offerings", r["offering"]) or {}
    access.require(access.manages_offering(req.state, req.me, offering))
    if r["state"] not in REPORTABLE_STATES:
        raise invalid("resource", "Resource is not in valid state.")
    usages = data.get("usages")
    if not isinstance(usages, list):
        raise invalid("usages", "This field is required.")
    billable = {
        c["type"] for c in offering["components"] if c["billing_type"] in ("usage", "limit")
    }
    bad = sorted({str(u.get("type")) for u in usages if u.get("type") not in billable})
    if bad:
        raise ApiError(
            400, {"non_field_errors": [f"These components are invalid: {', '.join(bad)}."]}
        )
    moment = _moment(req.state, data.get("date"), "date")
    if month_start(moment) < month_start(req.state.now()) and not req.me["is_staff"]:
        raise ApiError(
            400,
            {
                "non_field_errors": [
                    "Only staff can report usage for backfilling past billing periods."
                ]
            },
        )
    components = {c["type"]: c for c in offering["components"]}
    clean = []
    for item in usages:
        policy = item.get("missing_usage_policy") or ("reuse" if item.get("recurring") else "none")
        if policy not in POLICIES:
            raise invalid("missing_usage_policy", f'"{policy}" is not a valid choice.')
        value = amount(item.get("amount"), "amount")
        _check_limit(req.state, r, components[item["type"]], month_start(moment), value)
        clean.append((item["type"], value, item, policy))
    for ctype, value, item, policy in clean:
        _upsert_usage(
            req.state,
            r,
            ctype,
            moment,
            usage=value,
            description=str(item.get("description") or ""),
            recurring=policy == "reuse",
            missing_usage_policy=policy,
            modified_by=req.me["uuid"],
        )
        r.setdefault("current_usages", {})[ctype] = float(value)
    req.state.put("resources", r)
    return created()


def _same_window(period: str, other: str, limit_period: str) -> bool:
    if limit_period == "total":
        return True
    if limit_period == "annual":
        return period[:4] == other[:4]
    if limit_period == "quarterly":
        quarter = (int(period[5:7]) - 1) // 3
        return period[:4] == other[:4] and (int(other[5:7]) - 1) // 3 == quarter
    return period == other


def _check_limit(state: State, r: Obj, component: Obj, period: str, value: str) -> None:
    """Usage components with a limit period refuse a total above their limit amount."""
    limit, limit_period = component.get("limit_amount"), component.get("limit_period")
    if component["billing_type"] != "usage" or limit is None or not limit_period:
        return
    others = sum(
        Decimal(cu["usage"])
        for cu in state.find("component_usages", resource=r["uuid"], type=component["type"])
        if cu["billing_period"] != period
        and _same_window(period, cu["billing_period"], limit_period)
    )
    total = others + Decimal(value)
    if total > Decimal(str(limit)):
        raise ApiError(
            400,
            {
                "non_field_errors": [
                    f"Total amount exceeds limit. Total amount: {total}, limit: {limit}."
                ]
            },
        )


def _visible_usage(state: State, user: Obj, cu: Obj) -> bool:
    r = state.get("resources", cu["resource"])
    return r is not None and access.sees_resource(state, user, r)


def list_usages(req: Request) -> Response:
    resources = uuids(req, "resource_uuid")
    offerings = uuids(req, "offering_uuid")
    projects = uuids(req, "project_uuid")
    period = a_date(req, "billing_period")
    year, month = req.param("billing_period_year"), req.param("billing_period_month")
    after, before = a_datetime(req, "date_after"), a_datetime(req, "date_before")
    ctype = req.param("type")
    found = []
    candidates = (
        req.state.all("component_usages")
        if resources is None
        else [cu for r in resources for cu in req.state.find("component_usages", resource=r)]
    )
    for cu in candidates:
        r = req.state.get("resources", cu["resource"]) or {}
        if resources is not None and cu["resource"] not in resources:
            continue
        if offerings is not None and r.get("offering") not in offerings:
            continue
        if projects is not None and r.get("project") not in projects:
            continue
        if period is not None and cu["billing_period"] != period.isoformat():
            continue
        if year and cu["billing_period"][:4] != year.zfill(4):
            continue
        if month and int(cu["billing_period"][5:7]) != int(month or 0):
            continue
        if after is not None and parse_stamp(cu["date"]) < after:
            continue
        if before is not None and parse_stamp(cu["date"]) > before:
            continue
        if ctype is not None and cu["type"] != ctype:
            continue
        if _visible_usage(req.state, req.me, cu):
            found.append(cu)
    found.sort(key=lambda cu: cu["type"])
    found.sort(key=lambda cu: cu["date"], reverse=True)
    return paginate(req, found, lambda cu: render.component_usage(req, cu))


def _component_usage(req: Request) -> tuple[Obj, Obj]:
    cu = access.lookup(req, "component_usages", req.args[0], "ComponentUsage", _visible_usage)
    r = req.state.get("resources", cu["resource"]) or {}
    offering = req.state.get("offerings", r.get("offering")) or {}
    access.require(access.manages_offering(req.state, req.me, offering))
    return cu, r


def _user_usage_item(req: Request, cu: Obj, r: Obj, item: object) -> tuple[Obj, dict[str, object]]:
    if not isinstance(item, dict):
        raise ApiError(400, {"non_field_errors": ["Invalid data."]})
    username = item.get("username")
    if not isinstance(username, str) or not username:
        raise invalid("username", "This field is required.")
    if len(username) > 100:
        raise invalid("username", "Ensure this field has no more than 100 characters.")
    value = amount(item.get("usage"), "usage")
    target = cu
    if item.get("date"):
        moment = _moment(req.state, item["date"], "date")
        if month_start(moment) != cu["billing_period"]:
            target = req.state.first(
                "component_usages",
                resource=r["uuid"],
                type=cu["type"],
                billing_period=month_start(moment),
            ) or {"__new__": moment}
    user = None
    if item.get("user"):
        user = parse_uuid(str(item["user"]).rstrip("/").rsplit("/", 1)[-1])
        if req.state.get("offering_users", user) is None:
            raise invalid("user", "Invalid hyperlink - Object does not exist.")
    return target, {"username": username, "usage": value, "user": user}


def _store_user_usages(req: Request, cu: Obj, r: Obj, items: list[object]) -> None:
    checked = [_user_usage_item(req, cu, r, item) for item in items]
    for target, values in checked:
        if "__new__" in target:
            target = _upsert_usage(
                req.state,
                r,
                cu["type"],
                target["__new__"],
                description="Created for user usage backfill",
            )
        found = req.state.first(
            "user_usages", component_usage=target["uuid"], username=values["username"]
        )
        row = found or {"component_usage": target["uuid"], "username": values["username"]}
        row.update(values, date=target["date"])
        req.state.put("user_usages", row)


def set_user_usage(req: Request) -> Response:
    cu, r = _component_usage(req)
    _store_user_usages(req, cu, r, [req.data()])
    return created()


def set_user_usages(req: Request) -> Response:
    cu, r = _component_usage(req)
    items = req.data().get("usages")
    if not isinstance(items, list):
        raise invalid("usages", "This field is required.")
    _store_user_usages(req, cu, r, items)
    return created()


def list_user_usages(req: Request) -> Response:
    resources = uuids(req, "resource_uuid")
    offerings = uuids(req, "offering_uuid")
    period = a_date(req, "component_usage_billing_period")
    username = req.param("username")
    found = []
    for uu in req.state.all("user_usages"):
        cu = req.state.get("component_usages", uu["component_usage"]) or {}
        r = req.state.get("resources", cu.get("resource")) or {}
        if resources is not None and r.get("uuid") not in resources:
            continue
        if offerings is not None and r.get("offering") not in offerings:
            continue
        if period is not None and cu.get("billing_period") != period.isoformat():
            continue
        if username is not None and uu["username"] != username:
            continue
        if r and access.sees_resource(req.state, req.me, r):
            found.append(uu)
    found.reverse()
    return paginate(req, found, lambda uu: render.user_usage(req, uu))


def list_limits(req: Request) -> Response:
    resources = uuids(req, "resource_uuid")
    offerings = uuids(req, "offering_uuid")
    username = req.param("username")
    ctype = req.param("component_type")
    found = []
    for lim in req.state.all("user_usage_limits"):
        r = req.state.get("resources", lim["resource"]) or {}
        ou = req.state.get("offering_users", lim["offering_user"]) or {}
        if resources is not None and lim["resource"] not in resources:
            continue
        if offerings is not None and r.get("offering") not in offerings:
            continue
        if username is not None and ou.get("username") != username:
            continue
        if ctype is not None and lim["component_type"] != ctype:
            continue
        if r and access.sees_resource(req.state, req.me, r):
            found.append(lim)
    return paginate(req, found, lambda lim: render.user_usage_limit(req, lim))


def create_limit(req: Request) -> Response:
    data = req.data()
    r = access.hyperlink(
        req,
        data,
        "resource",
        ("marketplace-resources", "marketplace-provider-resources"),
        "resources",
    )
    offering = req.state.get("offerings", r["offering"]) or {}
    access.require(access.manages_offering(req.state, req.me, offering))
    ou = access.hyperlink(
        req, data, "offering_user", ("marketplace-offering-users",), "offering_users"
    )
    ctype = data.get("component_type")
    if ctype not in {c["type"] for c in offering["components"]}:
        raise invalid("component_type", "Invalid component type.")
    lim = req.state.first(
        "user_usage_limits", resource=r["uuid"], offering_user=ou["uuid"], component_type=ctype
    ) or {"resource": r["uuid"], "offering_user": ou["uuid"], "component_type": ctype}
    lim["limit"] = amount(data.get("limit"), "limit")
    req.state.put("user_usage_limits", lim)
    return created(render.user_usage_limit(req, lim))


def register(router: Router) -> None:
    base = "/api/marketplace-component-usages/"
    router.add("GET", base, list_usages)
    router.add("POST", base + "set_usage/", set_usage)
    router.add("POST", base + "{uuid}/set_user_usage/", set_user_usage)
    router.add("POST", base + "{uuid}/set_user_usages/", set_user_usages)
    router.add("GET", "/api/marketplace-component-user-usages/", list_user_usages)
    router.add("GET", "/api/component-user-usage-limits/", list_limits)
    router.add("POST", "/api/component-user-usage-limits/", create_limit)
