"""Waldur's resource, as the agent reads it, into the plugin API's `WaldurResource`."""

from __future__ import annotations

from waldur_site_agent_actors.actors.waldur.models import Resource
from waldur_site_agent_actors.backends.structures import WaldurResource


def waldur_resource(resource: Resource) -> WaldurResource:
    return WaldurResource(
        uuid=resource.uuid,
        name=resource.name,
        slug=resource.slug,
        backend_id=resource.backend_id or "",
        state=resource.state,
        limits=dict(resource.limits or {}),
        attributes=dict(resource.attributes or {}),
        plan_uuid=resource.plan_uuid,
        offering_uuid=resource.offering_uuid or "",
        project_uuid=resource.project_uuid or "",
        project_slug=resource.project_slug or "",
        project_name=resource.project_name or "",
        customer_uuid=resource.customer_uuid or "",
        customer_slug=resource.customer_slug or "",
        customer_name=resource.customer_name or "",
        restrict_member_access=bool(resource.restrict_member_access),
        paused=bool(resource.paused),
        downscaled=bool(resource.downscaled),
        end_date=resource.end_date,
        end_date_updated_at=resource.end_date_updated_at,
        effective_id=resource.effective_id or "",
        project_end_date=resource.project_end_date,
        created=resource.created,
    )
