"""KYC: run the identity check of a pending borrower and record its result (sync, off the request path).

Called by the event handlers (``handlers.py``, inside the consumer's transaction) and by the sweep
(``manage.py kyc_sweep``) that re-checks borrowers left pending by a provider outage. The provider
is called with no row lock held; the result is written under ``select_for_update`` and only if the
borrower is still pending at the version that was checked, so a replayed event, a concurrent sweep
or an edit made during the call can never record a stale result or move a borrower backwards.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Literal

import structlog
from common.bus.catalogue import BorrowerKycFailed, BorrowerKycVerified
from common.bus.outbox import outbox_add
from common.logging import bind_context
from common.tenancy import tenant_context
from django.db import transaction
from django.utils import timezone

from borrowers.models import Borrower, KycStatus
from borrowers.providers.identity import (
    IdentityCheckRequest,
    IdentityCheckResult,
    IdentityProvider,
    IdentityProviderError,
    IdentityProviderUnavailable,
    default_provider,
)

log = structlog.get_logger(__name__)

Outcome = Literal["verified", "failed", "skipped"]


def _request_for(borrower: Borrower) -> IdentityCheckRequest:
    return IdentityCheckRequest(
        reference=str(borrower.id), first_name=borrower.first_name, last_name=borrower.last_name,
        email=borrower.email, date_of_birth=borrower.date_of_birth.isoformat() if borrower.date_of_birth else None,
        address=borrower.address)


def _record_result_tx(*, borrower_id: uuid.UUID, checked_version: int, result: IdentityCheckResult,
                      causation_id: str | None) -> Outcome:
    borrower = Borrower.objects.select_for_update().filter(id=borrower_id).first()
    if borrower is None or borrower.kyc_status != KycStatus.PENDING or borrower.version != checked_version:
        return "skipped"
    borrower.kyc_checked_at = timezone.now()
    if result.verified:
        borrower.kyc_status, borrower.identity_reference, borrower.kyc_reason = KycStatus.VERIFIED, result.reference, None
        event = BorrowerKycVerified(borrower_id=str(borrower.id), identity_reference=result.reference)
    else:
        borrower.kyc_status, borrower.identity_reference, borrower.kyc_reason = KycStatus.FAILED, None, result.reason
        event = BorrowerKycFailed(borrower_id=str(borrower.id), reason=result.reason)
    borrower.save(update_fields=["kyc_status", "identity_reference", "kyc_reason", "kyc_checked_at", "updated_at"])
    outbox_add(event, tenant_id=borrower.tenant_id, causation_id=causation_id)
    return borrower.kyc_status


def borrower_kyc_check(*, borrower_id: uuid.UUID, provider: IdentityProvider | None = None,
                       causation_id: str | None = None) -> Outcome:
    """Check a pending borrower of the current tenant with the identity provider and record the result.

    Raises ``IdentityProviderUnavailable`` (nothing written) when the provider times out or is down,
    so the caller retries; a borrower that is not pending (any more) is ``skipped``."""
    borrower = Borrower.objects.filter(id=borrower_id).first()
    if borrower is None or borrower.kyc_status != KycStatus.PENDING:
        return "skipped"
    # Sync callers (consumer, sweep) own no event loop; the async provider gets a fresh one per call.
    result = asyncio.run((provider or default_provider()).verify(_request_for(borrower)))
    with transaction.atomic():
        outcome = _record_result_tx(borrower_id=borrower_id, checked_version=borrower.version, result=result,
                                    causation_id=causation_id)
    log.info("borrower.kyc_checked", borrower_id=str(borrower_id), outcome=outcome)
    return outcome


def borrowers_kyc_sweep(*, older_than: timedelta = timedelta(minutes=5), limit: int = 200,
                        provider: IdentityProvider | None = None) -> dict[str, int]:
    """Re-check borrowers of every tenant left ``pending`` for longer than ``older_than``.

    Stops at the first outage (the next sweep retries); a borrower the provider refuses is logged and
    passed over so that it cannot block the others."""
    cutoff = timezone.now() - older_than
    stale = list(Borrower.all_tenants.filter(kyc_status=KycStatus.PENDING, updated_at__lt=cutoff)
                 .order_by("updated_at").values_list("tenant_id", "id")[:limit])
    counts = {"checked": 0, "verified": 0, "failed": 0, "skipped": 0, "errors": 0, "unavailable": 0}
    for tenant_id, borrower_id in stale:
        with tenant_context(tenant_id), bind_context(tenant_id=tenant_id, borrower_id=str(borrower_id)):
            try:
                outcome = borrower_kyc_check(borrower_id=borrower_id, provider=provider)
            except IdentityProviderUnavailable as exc:
                log.warning("borrower.kyc_sweep.provider_unavailable", error=str(exc))
                counts["unavailable"] += 1
                break
            except IdentityProviderError as exc:
                log.error("borrower.kyc_sweep.provider_refused", error=str(exc))
                counts["errors"] += 1
                continue
        counts["checked"] += 1
        counts[outcome] += 1
    return counts
