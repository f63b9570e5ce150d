"""The loans service, seen from payments: ``GET {LENDSIMPLE_LOANS_URL}/api/v1/loans/{id}``.

Called with a service token for the tenant the payment is for (docs/integration.md). Timeouts and
bounded retries on transport errors and 5xx; the loans service being unreachable is a 503 problem to
the client, and the caller stores nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

import httpx
import structlog
from common.errors import UpstreamUnavailable
from common.service_http import ServiceUnreachable, service_get
from django.conf import settings

log = structlog.get_logger(__name__)

TIMEOUT = httpx.Timeout(3.0, connect=1.0)
ATTEMPTS = 3
BACKOFF_SECONDS = 0.2


@dataclass(frozen=True)
class LoanView:
    id: uuid.UUID
    status: str
    currency: str
    disbursement_date: date | None


class LoanNotFound(Exception):
    pass


def _loans_url() -> str:
    return settings.LENDSIMPLE_LOANS_URL.rstrip("/")


async def loan_fetch(*, tenant_id: str, loan_id: uuid.UUID) -> LoanView:
    """The loan as the loans service reports it; ``LoanNotFound`` when it does not exist for the tenant."""
    url = f"{_loans_url()}/api/v1/loans/{loan_id}"
    try:
        response = await service_get(url, tenant=tenant_id, caller="payments", timeout=TIMEOUT, attempts=ATTEMPTS,
                                     backoff_seconds=BACKOFF_SECONDS)
    except ServiceUnreachable as exc:
        raise UpstreamUnavailable(f"the loans service could not be reached to check the loan ({exc}); "
                                  "nothing was recorded, retry later", code="loans_unavailable") from exc
    if response.status_code == 404:
        raise LoanNotFound(str(loan_id))
    if response.status_code != 200:
        raise UpstreamUnavailable(f"the loans service answered {response.status_code} for the loan; nothing was "
                                  "recorded", code="loans_unavailable")
    return _parse(response.json())


def _parse(body: dict) -> LoanView:
    raw_date = body.get("disbursement_date")
    return LoanView(id=uuid.UUID(str(body["id"])), status=str(body["status"]), currency=str(body["currency"]),
                    disbursement_date=date.fromisoformat(raw_date) if raw_date else None)
