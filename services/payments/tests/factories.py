"""Test data and small helpers of the payments suite."""

from __future__ import annotations

import uuid

from asgiref.sync import sync_to_async
from common.bus.models import OutboxMessage
from common.testing import bearer
from payments.models import IdempotencyRecord, Payment


def payment_request(loan, **overrides) -> dict:
    body = {"loan_id": str(loan), "amount": "250.00", "currency": "USD", "method": "ach",
            "value_date": "2025-02-01"}
    body.update(overrides)
    return body


async def post_payment(client, tenant: str, body: dict, *, key: str | None = None, roles=("collector",)):
    headers = {**bearer(tenant, *roles), "Idempotency-Key": key or uuid.uuid4().hex}
    return await client.post("/api/v1/payments", json=body, headers=headers)


@sync_to_async
def stored_counts() -> dict:
    return {"payments": Payment.all_tenants.count(), "keys": IdempotencyRecord.all_tenants.count(),
            "outbox": OutboxMessage.objects.count()}


@sync_to_async
def outbox(name: str | None = None) -> list[OutboxMessage]:
    qs = OutboxMessage.objects.order_by("id")
    return list(qs.filter(name=name) if name else qs)


@sync_to_async
def payment_row(payment_id) -> Payment:
    return Payment.all_tenants.get(pk=payment_id)
