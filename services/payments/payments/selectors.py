"""Reads of the payments service: QuerySets scoped to the current tenant and, for a caller who is not an admin, to
the loans that caller holds a grant on (API.md: everyone but admins sees only the loans they are granted — asked of
the loans service with the caller's own token)."""

from __future__ import annotations

import uuid

from common.db import run_sync
from common.tenancy import require_tenant
from common.tokens import Principal
from django.db.models import QuerySet

from payments.models import Payment
from payments.providers.loans import LoanNotFound, loan_fetch, loan_ids_visible


def payment_list(*, filters: dict | None = None) -> QuerySet[Payment]:
    filters = filters or {}
    qs = Payment.objects.all()
    if filters.get("loan_id"):
        qs = qs.filter(loan_id=filters["loan_id"])
    if filters.get("status"):
        qs = qs.filter(status=filters["status"])
    return qs.order_by("-created_at", "id")


async def loan_visible(*, loan_id: uuid.UUID, caller: Principal) -> bool:
    """May ``caller`` see the loan (an admin: any of the tenant's; anyone else: one they hold a grant on)?"""
    if caller.sees_all:
        return True
    try:
        await loan_fetch(tenant_id=require_tenant(), loan_id=loan_id, on_behalf_of=caller)
    except LoanNotFound:
        return False
    return True


async def payment_list_visible(*, caller: Principal, filters: dict | None = None) -> QuerySet[Payment]:
    """``payment_list`` narrowed to the payments of the loans ``caller`` may see."""
    filters = filters or {}
    qs = payment_list(filters=filters)
    if caller.sees_all:
        return qs
    if filters.get("loan_id"):
        return qs if await loan_visible(loan_id=filters["loan_id"], caller=caller) else qs.none()
    return qs.filter(loan_id__in=await loan_ids_visible(tenant_id=require_tenant(), on_behalf_of=caller))


async def payment_get(*, payment_id: uuid.UUID, caller: Principal | None = None) -> Payment:
    """The payment of the current tenant (``Payment.DoesNotExist`` → 404, also for another tenant's, and for a
    ``caller`` who may not see its loan)."""
    payment = await run_sync(Payment.objects.get, pk=payment_id)
    if caller is not None and not await loan_visible(loan_id=payment.loan_id, caller=caller):
        raise Payment.DoesNotExist(f"payment {payment_id} is on a loan the caller holds no grant on")
    return payment
