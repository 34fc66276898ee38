"""`croit_usage`: the Croit S3 backend, reporting storage as GB-days from Croit's statistics.

Storage priced per GB and day needs the area under the stored-bytes curve, not today's size.
Croit keeps that curve (graph `s3-user-data`), so each report integrates it from the start of the
billing month to now, recomputed whole every time: idempotent, and right again after an outage.
Objects stay a count of what is stored now. Wire it as the reporting backend of a `ceph_s3`
offering (`reporting_backend: croit_usage`).
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime, tzinfo
from typing import Any

from waldur_site_agent_actors.backends.croit_s3 import quotas
from waldur_site_agent_actors.backends.croit_s3.backend import CroitS3Backend
from waldur_site_agent_actors.backends.croit_s3.client import CroitClient
from waldur_site_agent_actors.backends.exceptions import BackendError, ConfigurationError
from waldur_site_agent_actors.backends.structures import TOTAL_ACCOUNT_USAGE, UsageReport

SECONDS_PER_DAY = 86400

Series = list[tuple[int, float | None]]


def unit_days(points: Series, unit_factor: float, period_end: int) -> float | None:
    """The sum of bytes / unit_factor * days, each reading held until the next one; None when
    the series cannot say anything (fewer than two points, or no reading at all), so that no 0
    is reported for what was not measured.

    A missing reading between two others is a gap in Croit's statistics, not an empty bucket:
    the previous reading is carried over it. The last reading counts for one more step, but not
    past `period_end`, so a series that stopped does not bill its last value for the rest of
    the month.
    """
    if len(points) < 2 or all(v is None for _, v in points):
        return None
    times = [t for t, _ in points]
    closing = min(period_end, times[-1] + (times[-1] - times[-2]))
    ends = [*times[1:], max(closing, times[-1])]
    total, held = 0.0, None
    for (start, value), end in zip(points, ends, strict=True):
        held = value if value is not None else held
        if held is not None:
            total += held / unit_factor * (end - start) / SECONDS_PER_DAY
    return round(total, 2)


class CroitUsageBackend(CroitS3Backend):
    def __init__(
        self, backend_settings: dict[str, Any], backend_components: dict[str, dict[str, Any]]
    ) -> None:
        super().__init__(backend_settings, backend_components)
        self.backend_type = "croit_usage"
        if not isinstance(self.croit, CroitClient):
            raise ConfigurationError(
                "croit_usage integrates Croit's stored-bytes statistics; RadosGW's Admin Ops "
                "API has none (flavour radosgw): report with ceph_s3 instead"
            )
        self.statistics = self.croit

    def _zone(self) -> tzinfo:
        return zoneinfo.ZoneInfo(self.timezone or "UTC")

    def _get_usage_report(self, resource_backend_ids: list[str]) -> UsageReport:
        now = datetime.now(self._zone())
        month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        current = super()._get_usage_report(resource_backend_ids)
        return self._metered(current, int(month_start.timestamp()), int(now.timestamp()))

    def get_usage_report_for_period(
        self, resource_backend_ids: list[str], year: int, month: int
    ) -> UsageReport:
        """The closing GB-days of a past month (the tail after the last report of the month
        is billed too); object counts of the past are not known, so only storage."""
        start = datetime(year, month, 1, tzinfo=self._zone())
        end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=self._zone())
        empty: UsageReport = {uid: {TOTAL_ACCOUNT_USAGE: {}} for uid in resource_backend_ids}
        return self._metered(empty, int(start.timestamp()), int(end.timestamp()))

    def _metered(self, report: UsageReport, start: int, end: int) -> UsageReport:
        """`report` with its storage figures replaced by GB-days over [start, end]; a user whose
        series cannot be read is dropped from the report."""
        storage = [
            key
            for key, c in self.backend_components.items()
            if c.get("backend_name") == quotas.STORAGE
        ]
        metered: UsageReport = {}
        for uid, usage in report.items():
            try:
                series = self.statistics.storage_series(uid, start, end)
            except BackendError as exc:
                self.log.warning("storage series of S3 user %s not read: %s", uid, exc)
                continue
            totals = dict(usage.get(TOTAL_ACCOUNT_USAGE, {}))
            for key in storage:
                days = unit_days(series, self.unit_factor(key), end)
                if days is None:
                    totals.pop(key, None)
                else:
                    totals[key] = days
            if totals:
                metered[uid] = {TOTAL_ACCOUNT_USAGE: totals}
        return metered
