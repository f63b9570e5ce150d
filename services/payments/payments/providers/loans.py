"""The loans service, seen from payments: ``GET {LENDSIMPLE_LOANS_URL}/api/v1/loans/{id}``.

Called with a service token for the tenant the payment is for (docs/integration.md). Timeouts and
bounded retries on transport errors and 5xx; the loans service being unreachable is a 503 problem to
the client, and the caller stores nothing.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import date

import httpx
import structlog
from common.auth import service_token
from common.errors import UpstreamUnavailable
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
    last_error = "no attempt"
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        for attempt in range(1, ATTEMPTS + 1):
            headers = {"Authorization": f"Bearer {service_token(tenant=tenant_id, service='payments')}"}
            try:
                response = await client.get(url, headers=headers)
            except httpx.HTTPError as exc:
                last_error = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 404:
                    raise LoanNotFound(str(loan_id))
                if response.status_code == 200:
                    return _parse(response.json())
                last_error = f"HTTP {response.status_code}"
                if response.status_code < 500:
                    break   # a 4xx other than 404 will not get better by asking again
            log.warning("loans.fetch_failed", loan_id=str(loan_id), attempt=attempt, error=last_error)
            if attempt < ATTEMPTS:
                await asyncio.sleep(BACKOFF_SECONDS * attempt)
    raise UpstreamUnavailable(f"the loans service could not be reached to check the loan ({last_error}); "
                              "nothing was recorded, retry later", code="loans_unavailable")


def _parse(body: dict) -> LoanView:
    raw_date = body.get("disbursement_date")
    return LoanView(id=uuid.UUID(str(body["id"])), status=str(body["status"]), currency=str(body["currency"]),
                    disbursement_date=date.fromisoformat(raw_date) if raw_date else None)
