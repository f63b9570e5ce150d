"""Reads of the payments service: QuerySets scoped to the current tenant."""

from __future__ import annotations

import uuid

from common.db import run_sync
from django.db.models import QuerySet

from payments.models import Payment


def payment_list(*, filters: dict | None = None) -> QuerySet[Payment]:
    filters = filters or {}
    qs = Payment.objects.all()
    if filters.get("loan_id"):
        qs = qs.filter(loan_id=filters["loan_id"])
    if filters.get("status"):
        qs = qs.filter(status=filters["status"])
    return qs.order_by("-created_at", "id")


async def payment_get(*, payment_id: uuid.UUID) -> Payment:
    """The payment of the current tenant (``Payment.DoesNotExist`` → 404, also for another tenant's)."""
    return await run_sync(Payment.objects.get, pk=payment_id)
