"""Each tenant's business date (DOMAIN.md): "today" for the daily accrual, late fees, delinquency and default
quotes is the date in the tenant's own time zone, not the server's.

Zones come from ``LENDSIMPLE_TENANT_TIME_ZONES`` (``acme=America/New_York,globex=Asia/Tokyo``; IANA names);
a tenant not listed lives in ``LENDSIMPLE_DEFAULT_TIME_ZONE`` (``UTC``). A name the zone database does not know
is a configuration error, raised when the settings load (``validate_time_zones``), so a process never starts
with a tenant silently on the wrong calendar.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ZONES_ENV, DEFAULT_ENV = "LENDSIMPLE_TENANT_TIME_ZONES", "LENDSIMPLE_DEFAULT_TIME_ZONE"


class TimeZoneConfigError(ValueError):
    pass


def _zone(name: str, where: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise TimeZoneConfigError(f"{where}: unknown time zone {name!r}") from exc


@lru_cache(maxsize=8)
def _parse(zones: str, default: str) -> tuple[dict[str, ZoneInfo], ZoneInfo]:
    table: dict[str, ZoneInfo] = {}
    for item in filter(None, (part.strip() for part in zones.split(","))):
        tenant, sep, name = item.partition("=")
        if not sep or not tenant.strip() or not name.strip():
            raise TimeZoneConfigError(f"{ZONES_ENV}: expected tenant=Zone/Name, got {item!r}")
        table[tenant.strip()] = _zone(name.strip(), ZONES_ENV)
    return table, _zone(default.strip() or "UTC", DEFAULT_ENV)


def _config() -> tuple[dict[str, ZoneInfo], ZoneInfo]:
    return _parse(os.environ.get(ZONES_ENV, ""), os.environ.get(DEFAULT_ENV, "UTC"))


def validate_time_zones() -> None:
    """Raise ``TimeZoneConfigError`` now if the configuration names an unknown zone (called by the settings)."""
    _config()


def time_zone_of(tenant: str) -> ZoneInfo:
    table, default = _config()
    return table.get(tenant, default)


def local_time(tenant: str, at: datetime | None = None) -> datetime:
    """The tenant's clock at ``at`` (default: now)."""
    return (at or datetime.now(UTC)).astimezone(time_zone_of(tenant))


def business_date(tenant: str, at: datetime | None = None) -> date:
    """The tenant's date at ``at`` (default: now)."""
    return local_time(tenant, at).date()
