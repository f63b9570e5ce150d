"""The borrowers service over REST (docs/integration.md): does a borrower exist in the tenant?

httpx with timeouts and bounded retries on connection errors and 5xx. 200 → exists, 404 → does not;
anything else (down, 5xx after retries, an unexpected status) → ``BorrowersUnavailable``.
"""

from __future__ import annotations

from uuid import UUID

import httpx
import structlog
from common.service_http import ServiceUnreachable, service_get
from common.tokens import Principal
from django.conf import settings

log = structlog.get_logger(__name__)

TIMEOUT = httpx.Timeout(5.0, connect=2.0)
ATTEMPTS = 3
BACKOFF_SECONDS = 0.2


class BorrowersUnavailable(Exception):
    """The borrowers service could not give an answer."""


def borrowers_url() -> str:
    return str(getattr(settings, "LENDSIMPLE_BORROWERS_URL", "http://127.0.0.1:8001")).rstrip("/")


async def borrower_exists(*, tenant: str, borrower_id: UUID, on_behalf_of: Principal | None = None) -> bool:
    """Does the borrower exist for the tenant — and, ``on_behalf_of`` a loan officer, does that officer hold a
    grant on it (API.md: everyone but admins acts only on the borrowers they are granted)?"""
    url = f"{borrowers_url()}/api/v1/borrowers/{borrower_id}"
    try:
        response = await service_get(url, tenant=tenant, caller="loans", timeout=TIMEOUT, attempts=ATTEMPTS,
                                     backoff_seconds=BACKOFF_SECONDS, on_behalf_of=on_behalf_of)
    except ServiceUnreachable as exc:
        log.warning("borrowers.unavailable", url=url, error=str(exc))
        raise BorrowersUnavailable(str(exc)) from exc
    return response.status_code == 200
