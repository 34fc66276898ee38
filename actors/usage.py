"""report: backend usage of every resource, in Waldur units, sent for the last billing months.

One usage call to the backend for all resources of the offering (not one per resource), totals
upserted with `set_usage`, per-user usage after it; usage never goes down unless the backend says
it may. Each cycle reports the `reporting_periods` last months (upstream's default 2: the
current one and the previous one, whose figures may still grow after the month ended), the
past ones from the backend's `get_usage_report_for_period`; only what differs from Waldur's
figures is sent.
"""

from __future__ import annotations

import time
import zoneinfo
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import TypeVar

from waldur_site_agent_actors.actors import messages as m
from waldur_site_agent_actors.actors import metrics
from waldur_site_agent_actors.actors.child import ModeActor
from waldur_site_agent_actors.actors.waldur.client import WaldurError, WaldurUnreachable
from waldur_site_agent_actors.actors.waldur.models import ComponentUsage, Resource
from waldur_site_agent_actors.backends.exceptions import BackendError
from waldur_site_agent_actors.backends.structures import TOTAL_ACCOUNT_USAGE, ResourceUsage

T = TypeVar("T")


def billing_month(now: datetime) -> date:
    return now.date().replace(day=1)


def previous_month(month: date) -> date:
    return (month.replace(day=1) - timedelta(days=1)).replace(day=1)


def past_months(month: date, count: int) -> list[date]:
    """The `count` months before `month`, oldest first."""
    found: list[date] = []
    for _ in range(count):
        month = previous_month(month)
        found.insert(0, month)
    return found


def backfill_refused(exc: Exception) -> bool:
    return (
        isinstance(exc, WaldurError)
        and exc.status == 400
        and "backfilling past billing periods" in str(exc.body)
    )


class UsageActor(ModeActor):
    mode = "report"
    role = "report"
    tick = m.UsageTick()

    def prepare(self) -> None:
        self.zone = zoneinfo.ZoneInfo(self.context.root.timezone)
        self.periods = self.context.root.reporting_periods
        self.started = False
        self.owed: set[str] = set()  # resources whose per-user usages failed last cycle
        caps = self.wait(self.backend.capabilities(self.role))
        self.may_decrease = caps["supports_decreasing_usage"]
        metrics.usage_reported_up_to(self.offering.name, time.time())
        self.open_lanes()

    def cycle(self) -> None:
        read_at = time.time()
        month = billing_month(datetime.now(self.zone))
        try:
            self.announce()
            self.wait(self.backend.cycle_started(self.role))
            resources = [
                r
                for r in self.waldur.resources.of_offering(self.context.uuid, ("OK", "Erred")).get()
                if r.backend_id
            ]
            report = self.wait(
                self.plugin.get_usage_report([r.backend_id or "" for r in resources])
            )
            if billing_month(datetime.now(self.zone)) != month:
                # Read across a month boundary: the figures belong to neither month for sure.
                self.log.info("a month began while usage was read; reported next cycle")
                self.finished(summary="month boundary: nothing reported")
                return
            known = self.reported(month)
        except (WaldurError, WaldurUnreachable, BackendError) as exc:
            # The backend's report failing is one failed cycle, as Waldur failing is: the next
            # cycle reports the totals, so nothing is lost by waiting for it.
            self.log.warning("usage not reported this cycle: %s", exc)
            self.finished(error=str(exc))
            return
        for past in past_months(month, self.periods - 1):
            self.report_past(past, resources)
        # Per-user usages are not compared with Waldur's, so after a start they are sent once
        # for every resource: one that failed before the restart is owed and would be skipped.
        sent, failed = self.deliver(month, resources, report, known, every_user=not self.started)
        self.owed = failed
        self.started = True
        if not failed:
            metrics.usage_reported_up_to(self.offering.name, read_at)
        self.finished(
            error=f"{len(failed)} resource(s) failed" if failed else None,
            summary=f"{len(resources)} resource(s), {sent} updated",
        )

    def report_past(self, month: date, resources: list[Resource]) -> None:
        """A past month again: what the backend counts for it now, where it differs from
        Waldur's. A failure is logged and the cycle goes on (upstream too): the current month
        matters most, and the next cycle tries the past one again."""
        ids = [r.backend_id for r in resources if r.backend_id]
        try:
            report = self.wait(
                self.plugin.get_usage_report_for_period(ids, month.year, month.month)
            )
            if report:
                self.deliver(month, resources, report, self.reported(month), every_user=False)
        except (WaldurError, WaldurUnreachable, BackendError) as exc:
            self.log.warning("usage for %s not reported again: %s", month.strftime("%Y-%m"), exc)

    def reported(self, month: date) -> dict[str, dict[str, ComponentUsage]]:
        """What Waldur already holds for the month: {resource uuid: {component: usage}}."""
        known: dict[str, dict[str, ComponentUsage]] = {}
        for cu in self.waldur.usages.of_offering_month(self.context.uuid, month.isoformat()).get():
            known.setdefault(cu.resource_uuid or "", {})[cu.type] = cu
        return known

    def deliver(
        self,
        month: date,
        resources: list[Resource],
        report: dict[str, ResourceUsage],
        known: dict[str, dict[str, ComponentUsage]],
        every_user: bool,
    ) -> tuple[int, set[str]]:
        """Totals of every resource first, then per-user usages: the component usages a first
        report of the month creates are then listed once for the offering, not per resource.
        The resources' calls overlap in the actor's lanes; the first total goes alone, as it
        tells whether Waldur takes this month from this token at all.

        Returns how many resources got new totals and the uuids of those that failed.
        """
        stamp = datetime(month.year, month.month, 1, tzinfo=self.zone).isoformat()
        changed: list[tuple[Resource, dict[str, float]]] = []
        per_user: list[tuple[Resource, list[str], dict[str, dict[str, float]]]] = []
        for resource in resources:
            usage = report.get(resource.backend_id or "")
            if not usage:
                continue
            held = {k: float(cu.usage) for k, cu in known.get(resource.uuid, {}).items()}
            totals = self.acceptable_totals(resource, usage, held)
            if any(held.get(k) != v for k, v in totals.items()):
                changed.append((resource, totals))
            elif not (totals and (every_user or resource.uuid in self.owed)):
                continue
            users = {u: a for u, a in usage.items() if u != TOTAL_ACCOUNT_USAGE}
            components = sorted(totals)
            if users and components:
                per_user.append((resource, components, users))
        outcomes = self.in_lanes(lambda item: self.send_totals(month, stamp, *item), changed[:1])
        if outcomes == ["refused"]:
            # Waldur takes past months of usage-billed components from staff only (upstream
            # skips them too); the token is the same for every resource.
            self.log.info("Waldur takes no usage for %s from this token", month)
            return 0, set()
        outcomes += self.in_lanes(lambda item: self.send_totals(month, stamp, *item), changed[1:])
        failed = {r.uuid for (r, _), out in zip(changed, outcomes, strict=True) if out != "sent"}
        sent = sum(1 for outcome in outcomes if outcome == "sent")
        per_user = [item for item in per_user if item[0].uuid not in failed]
        if any(not set(c) <= set(known.get(r.uuid, {})) for r, c, _ in per_user):
            try:
                known = self.reported(month)
            except (WaldurError, WaldurUnreachable) as exc:
                self.log.warning("per-user usage for %s not sent: %s", month, exc)
                return sent, failed | {r.uuid for r, _, _ in per_user}
        sent_users = self.in_lanes(
            lambda item: self.send_user_usages(month, stamp, known.get(item[0].uuid, {}), *item),
            per_user,
        )
        failed |= {item[0].uuid for item, ok in zip(per_user, sent_users, strict=True) if not ok}
        return sent, failed

    def in_lanes(self, work: Callable[[T], str], items: list[T]) -> list[str]:
        if len(items) < 2 or self.lanes is None:
            return [work(item) for item in items]
        return self.lanes.map(work, items)

    def send_totals(
        self, month: date, stamp: str, resource: Resource, totals: dict[str, float]
    ) -> str:
        """ "sent", "refused" (Waldur takes no usage for this month from us) or "" (failed)."""
        if self.stopping:
            return ""
        try:
            self.waldur.usages.set_usage(resource.uuid, stamp, totals).get()
        except (WaldurError, WaldurUnreachable) as exc:
            refused = backfill_refused(exc)
            metrics.usage_refused(self.offering.name, "backfill" if refused else "waldur")
            if refused:
                return "refused"
            self.log.warning("usage of %s for %s not sent: %s", resource.backend_id, month, exc)
            return ""
        metrics.usage_sent(self.offering.name, len(totals))
        return "sent"

    def send_user_usages(
        self,
        month: date,
        stamp: str,
        usages: dict[str, ComponentUsage],
        resource: Resource,
        components: list[str],
        users: dict[str, dict[str, float]],
    ) -> str:
        """ "sent", or "" when a call failed."""
        if self.stopping:
            return ""
        try:
            for component in components:
                if component in usages:
                    self.waldur.usages.set_user_usages(
                        usages[component].uuid,
                        stamp,
                        {user: float(a.get(component, 0)) for user, a in users.items()},
                    ).get()
        except (WaldurError, WaldurUnreachable) as exc:
            self.log.warning(
                "per-user usage of %s for %s not sent: %s", resource.backend_id, month, exc
            )
            return ""
        return "sent"

    def acceptable_totals(
        self, resource: Resource, usage: ResourceUsage, held: dict[str, float]
    ) -> dict[str, float]:
        """The month-to-date totals of the offering's components, in Waldur's two decimals. Unless
        the backend says usage may decrease, one lower than what Waldur `held` is an anomaly:
        none is reported then, or, with `omit_anomalous_usage_components`, all but those (the
        per-user usages follow the totals sent)."""
        components = set(self.offering.backend_components)
        totals = {
            k: round(float(v), 2)
            for k, v in usage.get(TOTAL_ACCOUNT_USAGE, {}).items()
            if k in components
        }
        if self.may_decrease:
            return totals
        lower = {k for k, v in totals.items() if k in held and v < held[k]}
        if not lower:
            return totals
        metrics.usage_refused(self.offering.name, "anomaly")
        omit = self.offering.omit_anomalous_usage_components
        self.log.warning(
            "usage of %s went down for %s; %s (anomaly)",
            resource.backend_id,
            ", ".join(sorted(lower)),
            "the other components reported" if omit else "not reported",
        )
        return {k: v for k, v in totals.items() if k not in lower} if omit else {}
