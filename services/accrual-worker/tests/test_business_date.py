"""Each tenant's business day closes at its own midnight (DOMAIN.md): beat's hourly dispatch sends a tenant's daily
run for its previous business date, in its time zone, once."""

from datetime import UTC, datetime

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
    for tenant in ("tokyo", "la", "london"):          # london: not listed, the default zone (UTC)
        with tenant_context(tenant), transaction.atomic():
            bulk_open([disbursed_event()])
    sent = []
    monkeypatch.setattr(tasks.run_daily, "apply_async",
                        lambda args, headers: sent.append([headers[TENANT_HEADER], args[0]]))
    return sent


def dispatch_at(monkeypatch, at: datetime):
    monkeypatch.setattr(tasks, "_now", lambda: at)
    return tasks.dispatch_daily()


def test_each_tenant_runs_its_own_previous_business_date(monkeypatch, tenants):
    # when beat dispatches at 00:30 UTC on 2026-11-25: 09:30 in Tokyo, 16:30 (the 24th) in Los Angeles
    sent = dispatch_at(monkeypatch, datetime(2026, 11, 25, 0, 30, tzinfo=UTC))
    # then Tokyo and London close the 24th; Los Angeles, whose 24th is not over, the 23rd
    assert sorted(sent) == sorted(tenants) == [["la", "2026-11-23"], ["london", "2026-11-24"],
                                               ["tokyo", "2026-11-24"]]


def test_a_completed_day_is_not_sent_again_and_the_closing_hour_is_local(monkeypatch, tenants):
    # given Tokyo's 2026-11-24 already completed
    with tenant_context("tokyo"):
        AccrualRun.objects.create(run_id=tasks.daily_run_id("tokyo", "2026-11-24"), through="2026-11-24",
                                  status="completed")
    # when the day closes at 02:00 local and beat dispatches at 01:30 UTC (10:30 Tokyo, 01:30 London)
    monkeypatch.setenv("LEDGER_DAILY_HOUR", "2")
    sent = dispatch_at(monkeypatch, datetime(2026, 11, 25, 1, 30, tzinfo=UTC))
    # then only Los Angeles (17:30) is sent: Tokyo's run is done, London's day is not closed yet
    assert sent == [["la", "2026-11-23"]]
    # and an hour later London's is
    assert dispatch_at(monkeypatch, datetime(2026, 11, 25, 2, 30, tzinfo=UTC)) == [["la", "2026-11-23"],
                                                                                   ["london", "2026-11-24"]]


def test_an_unknown_time_zone_is_refused_when_the_settings_load(monkeypatch):
    from common.conf import service_settings
    from common.tenancy.calendar import TimeZoneConfigError

    monkeypatch.setenv("LENDSIMPLE_TENANT_TIME_ZONES", "acme=Mars/Olympus_Mons")
    with pytest.raises(TimeZoneConfigError, match="Mars/Olympus_Mons"):
        service_settings(service="ledger", base_dir=".", apps=[], http=False)
