"""report: backend usage of every resource, in Waldur units, sent for the current billing month.

One usage call to the backend for all resources of the offering (not one per resource), totals
upserted with `set_usage`, per-user usage after it; usage never goes down unless the backend says
it may; after a month boundary the previous month is finalised once.
"""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime, timedelta
from typing import Any

from actors import messages as m
from actors.child import BACKEND_TIMEOUT, ModeActor
from actors.waldur.client import WaldurError, WaldurUnreachable
from actors.waldur.models import ComponentUsage, Resource
from backends.exceptions import BackendError
from backends.structures import TOTAL_ACCOUNT_USAGE, ResourceUsage


def billing_month(now: datetime) -> date:
    return now.date().replace(day=1)


def previous_month(month: date) -> date:
    return (month.replace(day=1) - timedelta(days=1)).replace(day=1)


class UsageActor(ModeActor):
    mode = "report"
    role = "report"

    def setup(self) -> None:
        self.zone = zoneinfo.ZoneInfo(self.context.root.timezone)
        self.last_month: date | None = None
        caps = self.backend.capabilities(self.role).get(timeout=BACKEND_TIMEOUT)
        self.may_decrease = caps["supports_decreasing_usage"]

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, m.UsageTick):
            self.cycle()
        else:
            return super().on_receive(message)
        return None

    def cycle(self) -> None:
        month = billing_month(datetime.now(self.zone))
        try:
            resources = [
                r
                for r in self.waldur.resources.of_offering(self.context.uuid, ("OK", "Erred")).get()
                if r.backend_id
            ]
            if month != self.last_month:
                # First cycle after start or after a month boundary: close the previous month.
                self.finalise(previous_month(month), resources)
            report = self.plugin.get_usage_report([r.backend_id for r in resources]).get(
                timeout=BACKEND_TIMEOUT
            )
            known = self.reported(month)
        except (WaldurError, WaldurUnreachable, BackendError) as exc:
            # The backend's report failing is one failed cycle, as Waldur failing is: the next
            # cycle reports the totals, so nothing is lost by waiting for it.
            self.log.warning("usage not reported this cycle: %s", exc)
            self.finished(error=str(exc))
            return
        sent = errors = 0
        for resource in resources:
            usage = report.get(resource.backend_id or "")
            if not usage:
                continue
            try:
                sent += self.send(resource, usage, month, known.get(resource.uuid, {}))
            except (WaldurError, WaldurUnreachable) as exc:
                errors += 1
                self.log.warning("usage of %s not sent: %s", resource.backend_id, exc)
        self.last_month = month
        self.finished(
            error=f"{errors} resource(s) failed" if errors else None,
            summary=f"{len(resources)} resource(s), {sent} updated",
        )

    def finalise(self, month: date, resources: list[Resource]) -> None:
        """Right after a month boundary: the closing figures of the month that just ended."""
        ids = [r.backend_id for r in resources if r.backend_id]
        report = self.plugin.get_usage_report_for_period(ids, month.year, month.month).get(
            timeout=BACKEND_TIMEOUT
        )
        known = self.reported(month) if report else {}
        for resource in resources:
            usage = report.get(resource.backend_id or "")
            if usage:
                try:
                    self.send(resource, usage, month, known.get(resource.uuid, {}))
                except WaldurError as exc:
                    self.log.warning(
                        "closing usage of %s for %s not sent: %s", resource.backend_id, month, exc
                    )

    def reported(self, month: date) -> dict[str, dict[str, ComponentUsage]]:
        """What Waldur already holds for the month: {resource uuid: {component: usage}}."""
        known: dict[str, dict[str, ComponentUsage]] = {}
        for cu in self.waldur.usages.of_offering_month(self.context.uuid, month.isoformat()).get():
            known.setdefault(cu.resource_uuid or "", {})[cu.type] = cu
        return known

    def send(
        self,
        resource: Resource,
        usage: ResourceUsage,
        month: date,
        known: dict[str, ComponentUsage],
    ) -> bool:
        components = set(self.offering.backend_components)
        totals = {
            k: round(float(v), 2)
            for k, v in usage.get(TOTAL_ACCOUNT_USAGE, {}).items()
            if k in components
        }
        period = month.isoformat()
        existing = {kind: float(cu.usage) for kind, cu in known.items()}
        if totals and all(existing.get(k) == v for k, v in totals.items()):
            return False
        if not self.may_decrease:
            lower = {k for k, v in totals.items() if k in existing and v < existing[k]}
            if lower and not self.offering.omit_anomalous_usage_components:
                self.log.warning(
                    "usage of %s went down for %s; not reported (anomaly)",
                    resource.backend_id,
                    ", ".join(sorted(lower)),
                )
                return False
            totals = {k: v for k, v in totals.items() if k not in lower}
        if not totals:
            return False
        stamp = datetime(month.year, month.month, 1, tzinfo=self.zone).isoformat()
        self.waldur.usages.set_usage(resource.uuid, stamp, totals).get()
        per_user = {user: amounts for user, amounts in usage.items() if user != TOTAL_ACCOUNT_USAGE}
        if per_user:
            usages = {kind: cu.uuid for kind, cu in known.items()}
            if not set(totals) <= set(usages):  # first report of a component this month
                usages = {
                    u.type: u.uuid for u in self.waldur.usages.of_month(resource.uuid, period).get()
                }
            for component in totals:
                if component in usages:
                    self.waldur.usages.set_user_usages(
                        usages[component],
                        stamp,
                        {user: float(a.get(component, 0)) for user, a in per_user.items()},
                    ).get()
        return True
