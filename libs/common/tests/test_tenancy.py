import pytest
from asgiref.sync import sync_to_async
from common.tenancy import TenantNotSet, get_current_tenant, tenant_context
from testproject.testapp.models import Widget

pytestmark = pytest.mark.django_db(transaction=True)


def test_scoped_query_without_tenant_raises():
    # given no tenant in context
    assert get_current_tenant() is None
    # when / then: the default manager fails closed
    with pytest.raises(TenantNotSet):
        list(Widget.objects.all())
    with pytest.raises(TenantNotSet):
        Widget.objects.create(name="x")


def test_queries_see_only_the_current_tenant():
    with tenant_context("acme"):
        Widget.objects.create(name="a1")
    with tenant_context("globex"):
        Widget.objects.create(name="g1")
        Widget.objects.create(name="g2")
        assert sorted(Widget.objects.values_list("name", flat=True)) == ["g1", "g2"]
    with tenant_context("acme"):
        assert list(Widget.objects.values_list("name", flat=True)) == ["a1"]
        assert not Widget.objects.filter(name="g1").exists()
    # the explicit unscoped door sees everything
    assert Widget.all_tenants.count() == 3


def test_new_rows_take_the_current_tenant():
    with tenant_context("acme"):
        w = Widget(name="x")
        w.save()
    assert Widget.all_tenants.get(pk=w.pk).tenant_id == "acme"


async def test_tenant_travels_into_sync_to_async_threads():
    with tenant_context("initech"):
        seen = await sync_to_async(get_current_tenant, thread_sensitive=False)()
    assert seen == "initech"
    assert get_current_tenant() is None


# --- business dates (common.tenancy.calendar) ------------------------------------------------------------


def test_each_tenant_has_its_own_business_date_and_unlisted_ones_the_default(monkeypatch):
    from datetime import UTC, date, datetime

    from common.tenancy.calendar import business_date

    monkeypatch.setenv("LENDSIMPLE_TENANT_TIME_ZONES", "tokyo=Asia/Tokyo,la=America/Los_Angeles")
    monkeypatch.setenv("LENDSIMPLE_DEFAULT_TIME_ZONE", "Europe/Paris")
    at = datetime(2026, 3, 29, 22, 30, tzinfo=UTC)   # Paris moved to summer time (UTC+2) that night: 00:30 on the 30th
    assert business_date("tokyo", at) == date(2026, 3, 30)
    assert business_date("la", at) == date(2026, 3, 29)
    assert business_date("anyone-else", at) == date(2026, 3, 30)
    monkeypatch.delenv("LENDSIMPLE_DEFAULT_TIME_ZONE")
    assert business_date("anyone-else", at) == date(2026, 3, 29)      # UTC


@pytest.mark.parametrize("zones", ["acme=Not/AZone", "acme", "=Asia/Tokyo", "acme="])
def test_a_malformed_time_zone_setting_is_an_error(monkeypatch, zones):
    from common.tenancy.calendar import TimeZoneConfigError, validate_time_zones

    monkeypatch.setenv("LENDSIMPLE_TENANT_TIME_ZONES", zones)
    with pytest.raises(TimeZoneConfigError):
        validate_time_zones()
