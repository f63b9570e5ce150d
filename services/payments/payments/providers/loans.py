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
from common.tokens import Principal
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


async def _get(url: str, *, tenant_id: str, on_behalf_of: Principal | None, what: str):
    try:
        response = await service_get(url, tenant=tenant_id, caller="payments", timeout=TIMEOUT, attempts=ATTEMPTS,
                                     backoff_seconds=BACKOFF_SECONDS, on_behalf_of=on_behalf_of)
    except ServiceUnreachable as exc:
        raise UpstreamUnavailable(f"the loans service could not be reached to check {what} ({exc}); "
                                  "nothing was recorded, retry later", code="loans_unavailable") from exc
    if response.status_code not in (200, 404):
        raise UpstreamUnavailable(f"the loans service answered {response.status_code} for {what}; nothing was "
                                  "recorded", code="loans_unavailable")
    return response


async def loan_fetch(*, tenant_id: str, loan_id: uuid.UUID, on_behalf_of: Principal | None = None) -> LoanView:
    """The loan as the loans service reports it; ``LoanNotFound`` when it does not exist for the tenant or (``on
    behalf of`` a user who is not an admin) when that user holds no grant on it."""
    response = await _get(f"{_loans_url()}/api/v1/loans/{loan_id}", tenant_id=tenant_id, on_behalf_of=on_behalf_of,
                          what="the loan")
    if response.status_code == 404:
        raise LoanNotFound(str(loan_id))
    return _parse(response.json())


LIST_PAGE = 500     # the loans service's largest page


async def loan_ids_visible(*, tenant_id: str, on_behalf_of: Principal) -> set[uuid.UUID]:
    """The ids of every loan ``on_behalf_of`` may see (its grants), page by page from the loans service."""
    ids: set[uuid.UUID] = set()
    offset = 0
    while True:
        response = await _get(f"{_loans_url()}/api/v1/loans?limit={LIST_PAGE}&offset={offset}", tenant_id=tenant_id,
                              on_behalf_of=on_behalf_of, what="the caller's loans")
        page = response.json()
        ids.update(uuid.UUID(str(item["id"])) for item in page["items"])
        offset += LIST_PAGE
        if not page["items"] or offset >= page["count"]:
            return ids


def _parse(body: dict) -> LoanView:
    raw_date = body.get("disbursement_date")
    return LoanView(id=uuid.UUID(str(body["id"])), status=str(body["status"]), currency=str(body["currency"]),
                    disbursement_date=date.fromisoformat(raw_date) if raw_date else None)
