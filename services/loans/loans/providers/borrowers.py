"""The borrowers service over REST (docs/integration.md): does a borrower exist in the tenant?

httpx with timeouts and bounded retries on connection errors and 5xx. 200 → exists, 404 → does not;
anything else (down, 5xx after retries, an unexpected status) → ``BorrowersUnavailable``.
"""

from __future__ import annotations

import asyncio
from uuid import UUID

import httpx
import structlog
from common.auth import service_token
from common.logging import get_correlation_id
from django.conf import settings

log = structlog.get_logger(__name__)

TIMEOUT = httpx.Timeout(5.0, connect=2.0)
ATTEMPTS = 3
BACKOFF_SECONDS = 0.2


class BorrowersUnavailable(Exception):
    """The borrowers service could not give an answer."""


def borrowers_url() -> str:
    return str(getattr(settings, "LENDSIMPLE_BORROWERS_URL", "http://127.0.0.1:8001")).rstrip("/")


async def borrower_exists(*, tenant: str, borrower_id: UUID) -> bool:
    url = f"{borrowers_url()}/api/v1/borrowers/{borrower_id}"
    headers = {"Authorization": f"Bearer {service_token(tenant=tenant, service='loans')}"}
    if correlation_id := get_correlation_id():
        headers["X-Correlation-ID"] = correlation_id
    last_error = ""
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                response = await client.get(url, headers=headers)
            except httpx.TransportError as exc:
                last_error = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 200:
                    return True
                if response.status_code == 404:
                    return False
                last_error = f"status {response.status_code}"
                if response.status_code < 500:
                    break  # a 4xx other than 404 will not get better by retrying (e.g. a rejected token)
            if attempt < ATTEMPTS:
                await asyncio.sleep(BACKOFF_SECONDS * attempt)
    log.warning("borrowers.unavailable", url=url, error=last_error)
    raise BorrowersUnavailable(last_error)
