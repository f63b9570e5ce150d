"""Each tenant's business day closes at its own midnight (DOMAIN.md): beat's hourly dispatch sends a tenant's daily
run for its previous business date, in its time zone, once."""

from datetime import UTC, datetime, timedelta

import pytest
from common.tasks import TENANT_HEADER
from common.tenancy import tenant_context
from django.db import transaction
from ledger import tasks
from ledger.models import AccrualRun
from tests.factories import bulk_open, disbursed_event

pytestmark = pytest.mark.django_db(transaction=True)
ZONES = "tokyo=Asia/Tokyo, la=America/Los_Angeles"


@pytest.fixture
def tenants(monkeypatch):
    monkeypatch.setenv("LENDSIMPLE_TENANT_TIME_ZONES", ZONES)
    monkeypatch.delenv("LENDSIMPLE_DEFAULT_TIME_ZONE", raising=False)
    monkeypatch.delenv("LEDGER_DAILY_HOUR", raising=False)
    for tenant in ("tokyo", "la", "london"):          # london: not listed, the default zone (UTC)
        with tenant_context(tenant), transaction.atomic():
            bulk_open([disbursed_event()])


def dispatch_at(monkeypatch, at: datetime, through=None):
    """What one dispatch sent (the run_daily commands), checked equal to what it reports."""
    sent = []
    monkeypatch.setattr(tasks, "_now", lambda: at)
    monkeypatch.setattr(tasks.run_daily, "apply_async", lambda args, headers: sent.append([headers[TENANT_HEADER],
                                                                                            args[0]]))
    reported = tasks.dispatch_daily(through)
    assert reported == sent
    return sent


def run(tenant, day, status="completed", started_at=None):
    with tenant_context(tenant):
        created = AccrualRun.objects.create(run_id=tasks.daily_run_id(tenant, day), through=day, status=status)
    if started_at is not None:
        AccrualRun.all_tenants.filter(id=created.id).update(started_at=started_at)


AT = datetime(2026, 11, 25, 0, 30, tzinfo=UTC)      # 09:30 in Tokyo, 16:30 (the 24th) in Los Angeles, 00:30 London


def test_each_tenant_runs_its_own_latest_closed_business_date(monkeypatch, tenants):
    # when beat dispatches for tenants that never ran
    sent = dispatch_at(monkeypatch, AT)
    # then Tokyo and London close the 24th; Los Angeles, whose 24th is not over, the 23rd
    assert sent == [["la", "2026-11-23"], ["london", "2026-11-24"], ["tokyo", "2026-11-24"]]


def test_a_day_closes_at_the_local_closing_hour_and_runs_once(monkeypatch, tenants):
    # given every tenant's 23rd done, Tokyo's 24th too, and days that close at 02:00 local time
    for tenant in ("tokyo", "la", "london"):
        run(tenant, "2026-11-23")
    run("tokyo", "2026-11-24")
    monkeypatch.setenv("LEDGER_DAILY_HOUR", "2")
    # when beat dispatches at 01:30 UTC, then at 02:30
    assert dispatch_at(monkeypatch, datetime(2026, 11, 25, 1, 30, tzinfo=UTC)) == []
    assert dispatch_at(monkeypatch, datetime(2026, 11, 25, 2, 30, tzinfo=UTC)) == [["london", "2026-11-24"]]


def test_a_run_in_progress_is_left_alone_and_one_stuck_for_an_hour_is_resumed(monkeypatch, tenants):
    for tenant in ("tokyo", "london"):
        run(tenant, "2026-11-24")
    run("la", "2026-11-23", status="running", started_at=AT - timedelta(minutes=10))
    assert dispatch_at(monkeypatch, AT) == []
    assert dispatch_at(monkeypatch, AT + timedelta(hours=1)) == [["la", "2026-11-23"]]


def test_missed_days_are_caught_up_one_by_one_oldest_first(monkeypatch, tenants):
    # given London's last run on the 20th (beat was down), Tokyo's a month ago, Los Angeles up to date
    run("london", "2026-11-20")
    run("tokyo", "2026-10-20")
    run("la", "2026-11-23")
    # then London runs the 21st next (its 22nd, 23rd and 24th on the following dispatches), and Tokyo, more than
    # a week behind, catches up to its latest closed day in one run
    assert dispatch_at(monkeypatch, AT) == [["london", "2026-11-21"], ["tokyo", "2026-11-24"]]


def test_a_manual_date_never_runs_a_tenant_past_its_own_closed_day(monkeypatch, tenants):
    assert dispatch_at(monkeypatch, AT, through="20261124") == [["la", "2026-11-23"], ["london", "2026-11-24"],
                                                                 ["tokyo", "2026-11-24"]]
    assert dispatch_at(monkeypatch, AT, through="2026-11-01") == [["la", "2026-11-01"], ["london", "2026-11-01"],
                                                                   ["tokyo", "2026-11-01"]]


def test_an_unknown_time_zone_is_refused_when_the_settings_load(monkeypatch):
    from common.conf import service_settings
    from common.tenancy.calendar import TimeZoneConfigError

    monkeypatch.setenv("LENDSIMPLE_TENANT_TIME_ZONES", "acme=Mars/Olympus_Mons")
    with pytest.raises(TimeZoneConfigError, match="Mars/Olympus_Mons"):
        service_settings(service="ledger", base_dir=".", apps=[], http=False)


def test_an_out_of_range_closing_hour_is_refused(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    monkeypatch.setenv("LEDGER_DAILY_HOUR", "24")
    with pytest.raises(ImproperlyConfigured):
        tasks.daily_closing_hour()
