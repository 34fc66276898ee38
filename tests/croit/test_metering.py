"""croit_usage: storage billed in GB-days, integrated from Croit's stored-bytes graph."""

import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.croit.conftest import COMPONENTS, GIB, make_resource
from waldur_site_agent_actors.backends.croit_s3.metering import CroitUsageBackend, unit_days
from waldur_site_agent_actors.backends.structures import TOTAL_ACCOUNT_USAGE

DAY = 86400
UID = "waldur_myorg_myproject_3f2a9c1e"


def test_each_reading_is_held_until_the_next_and_the_last_for_one_more_step():
    points = [(0, 2 * GIB), (DAY, 2 * GIB), (2 * DAY, 4 * GIB)]
    assert unit_days(points, GIB, period_end=10 * DAY) == 2 + 2 + 4


def test_the_last_step_stops_at_the_end_of_the_period():
    assert unit_days([(0, GIB), (DAY, GIB)], GIB, period_end=DAY + DAY // 2) == 1.5


def test_a_gap_in_the_readings_carries_the_previous_one_and_leading_gaps_count_nothing():
    points = [(0, None), (DAY, GIB), (2 * DAY, None), (3 * DAY, GIB)]
    assert unit_days(points, GIB, period_end=3 * DAY) == 2


@pytest.mark.parametrize("points", [[], [(0, GIB)], [(0, None), (DAY, None)]])
def test_a_series_that_says_nothing_is_not_a_zero(points):
    assert unit_days(points, GIB, period_end=DAY) is None


def month_start(moment: datetime) -> datetime:
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


@pytest.fixture
def usage_backend(croit):
    backend = CroitUsageBackend({"api_url": croit.api_url, "token": croit.token}, COMPONENTS)
    resource = make_resource()
    backend.create_resource_with_id(resource, UID)
    return backend


def test_current_month_storage_is_gb_days_so_far_and_objects_a_count(croit, usage_backend):
    now = time.time()
    written = now - 6 * 3600
    croit.state.user(UID).created = written - 3600  # it existed, empty, before the write
    croit.state.put_object(UID, "data", "a", 2 * GIB, at=written)
    croit.state.put_object(UID, "data", "b", 1, at=written)
    totals = usage_backend.get_usage_report([UID])[UID][TOTAL_ACCOUNT_USAGE]
    since = max(written, month_start(datetime.now(UTC)).timestamp())
    assert totals["s3_storage"] == pytest.approx(2 * (now - since) / DAY, abs=0.05)
    assert totals["s3_objects"] == 2
    assert usage_backend.backend_type == "croit_usage"


def test_a_past_month_is_integrated_to_its_end(croit, usage_backend):
    written = datetime.now(UTC) - timedelta(days=40)
    croit.state.put_object(UID, "data", "a", GIB, at=written.timestamp())
    start = month_start(written)
    end = month_start(start + timedelta(days=32))
    report = usage_backend.get_usage_report_for_period([UID], start.year, start.month)
    expected = (end - written).total_seconds() / DAY
    assert report[UID][TOTAL_ACCOUNT_USAGE] == {"s3_storage": pytest.approx(expected, abs=0.05)}


def test_a_user_whose_series_cannot_be_read_is_left_out(croit, usage_backend):
    croit.fail("GET", "/api/stats", 503, "statistics are down", times=5)
    assert usage_backend.get_usage_report([UID]) == {}
