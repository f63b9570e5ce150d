"""Reads: tenant-scoped, lazy QuerySets narrowed to what the principal may see."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from common.auth import Principal
from common.db import run_sync
from common.errors import NotFound
from common.permissions import ahas_object_perm, avisible
from django.db.models import Q, QuerySet, Value
from django.db.models.functions import Concat

from borrowers import errors
from borrowers.models import Borrower


@dataclass(frozen=True)
class BorrowerFilters:
    search: str | None = None
    kyc_status: str | None = None


def borrower_queryset(*, filters: BorrowerFilters | None = None) -> QuerySet[Borrower]:
    """The current tenant's borrowers matching ``filters`` (no permission narrowing)."""
    qs = Borrower.objects.all()
    filters = filters or BorrowerFilters()
    if filters.kyc_status:
        qs = qs.filter(kyc_status=filters.kyc_status)
    if filters.search:
        term = filters.search.strip()
        qs = qs.annotate(search_name=Concat("first_name", Value(" "), "last_name")).filter(
            Q(search_name__icontains=term) | Q(email__icontains=term))
    return qs.order_by("-created_at", "id")


async def borrower_list(*, principal: Principal, filters: BorrowerFilters | None = None) -> QuerySet[Borrower]:
    """Borrowers of the principal's tenant that it may view (admins and services: all of them)."""
    return await avisible(principal, borrower_queryset(filters=filters), "view")


async def borrower_get(*, principal: Principal, borrower_id: uuid.UUID) -> Borrower:
    """The borrower if it is in the principal's tenant and the principal may ``view`` it; else 404."""
    borrower = await run_sync(Borrower.objects.filter(id=borrower_id).first)
    if borrower is None or not await ahas_object_perm(principal, borrower, "view"):
        raise NotFound(errors.NOT_FOUND, code=errors.BorrowerErrorCode.NOT_FOUND)
    return borrower
