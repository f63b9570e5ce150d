"""The payment processor: asked to charge a payment, it answers later with a signed callback.

``PaymentProcessor`` is the interface the services use; ``HttpProcessor`` speaks to a processor over
HTTP (the sandbox of ``sandbox_processor`` in development and tests). A charge is idempotent on the
payment id at the processor, so asking again after a timeout never charges twice.

    POST {LENDSIMPLE_PROCESSOR_URL}/charges
      {"payment_id", "tenant_id", "amount", "currency", "method", "callback_url"}
    → 201/200 {"id": "<charge id>", "status": "pending" | "settled" | "failed" | "returned", ...}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import httpx
from common.service_http import shared_client
from django.conf import settings


@dataclass(frozen=True)
class ChargeRequest:
    payment_id: str
    tenant_id: str
    amount: str
    currency: str
    method: str
    callback_url: str


@dataclass(frozen=True)
class Charge:
    reference: str
    status: str


class ProcessorUnavailable(Exception):
    """The processor could not be reached or did not accept the charge; ask again later."""


class PaymentProcessor(Protocol):
    async def charge(self, request: ChargeRequest) -> Charge: ...


class HttpProcessor:
    def __init__(self, base_url: str, *, timeout_seconds: float = 3.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 1.0))

    async def charge(self, request: ChargeRequest) -> Charge:
        body = {"payment_id": request.payment_id, "tenant_id": request.tenant_id, "amount": request.amount,
                "currency": request.currency, "method": request.method, "callback_url": request.callback_url}
        try:
            response = await shared_client().post(f"{self.base_url}/charges", json=body, timeout=self.timeout,
                                                  headers={"Idempotency-Key": request.payment_id})
        except httpx.HTTPError as exc:
            raise ProcessorUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code not in (200, 201, 202):
            raise ProcessorUnavailable(f"processor answered HTTP {response.status_code}: {response.text[:200]}")
        data = response.json()
        return Charge(reference=str(data["id"]), status=str(data.get("status", "pending")))


def callback_url() -> str:
    return f"{settings.LENDSIMPLE_PAYMENTS_URL.rstrip('/')}/api/v1/webhooks/processor"


def get_processor() -> PaymentProcessor:
    return HttpProcessor(settings.LENDSIMPLE_PROCESSOR_URL, timeout_seconds=settings.LENDSIMPLE_PROCESSOR_TIMEOUT)
