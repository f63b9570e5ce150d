"""A tenant's business days, for the daily run (``ledger.tasks.dispatch_daily``): when a day closes on the
tenant's own clock, and the run id of a day. No Celery or model imports: the worker's Celery app checks the
closing hour at start with it."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

from common.conf import env_int
from common.tenancy.calendar import local_time
from django.core.exceptions import ImproperlyConfigured

CATCH_UP_DAYS = 7  # missed business days run one by one up to this many; beyond, one run catches up
RESUME_AFTER_SECONDS = 3600  # a daily run not completed an hour after it started is sent again (resumed)


def daily_closing_hour() -> int:
    """``LEDGER_DAILY_HOUR``: the local hour from which a tenant's previous business day is closed (0-23)."""
    hour = env_int("LEDGER_DAILY_HOUR", 0)
    if not 0 <= hour <= 23:
        raise ImproperlyConfigured(f"LEDGER_DAILY_HOUR must be 0-23, got {hour}")
    return hour


def latest_closed_date(tenant: str, now: datetime, closing_hour: int) -> date:
    """The tenant's latest business date whose day has closed, on its own clock."""
    local = local_time(tenant, now)
    return local.date() - timedelta(days=1 if local.hour >= closing_hour else 2)


def daily_run_id(tenant: str, through: str) -> str:
    """The run of a tenant's business day: one id per tenant and date (the same as before business dates)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"lendsimple:ledger:daily:{tenant}:{through}"))
