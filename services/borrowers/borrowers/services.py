"""Writes: keyword-only ``borrower_<action>`` functions.

Each atomic write is one sync ``_tx`` function (row lock, change, grant, outbox row) awaited once
through ``common.db.run_atomic``: the borrower, its grants and its events commit together or not
at all.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from common.auth import Principal
from common.bus.catalogue import BorrowerCreated, BorrowerUpdated
from common.bus.outbox import outbox_add
from common.db import run_atomic
from common.errors import Conflict, Forbidden, NotFound, Unprocessable
from common.permissions import ahas_object_perm, grant
from django.db import IntegrityError

from borrowers import errors
from borrowers.models import Borrower, CreateIdempotencyKey, KycStatus
from borrowers.selectors import borrower_get

IDEMPOTENCY_CONSTRAINT = "borrower_idempotency_key_once"
EDITABLE_FIELDS = ("first_name", "last_name", "email", "phone", "date_of_birth", "address")
REQUIRED_FIELDS = ("first_name", "last_name", "email")
# A change of any of these invalidates a past identity check: the borrower goes back to pending.
IDENTITY_FIELDS = ("first_name", "last_name", "date_of_birth")


def _payload_fields(borrower: Borrower) -> dict[str, Any]:
    return {"borrower_id": str(borrower.id), "first_name": borrower.first_name, "last_name": borrower.last_name,
            "email": borrower.email, "kyc_status": borrower.kyc_status, "version": borrower.version}


def _constraint_of(exc: IntegrityError) -> str | None:
    return getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None)


def _borrower_create_tx(*, principal: Principal, fields: dict[str, Any],
                        idempotency: tuple[str, str] | None = None, render=None) -> Borrower | dict:
    if idempotency:
        key, request_hash = idempotency
        replay = _replay_or_conflict(key=key, request_hash=request_hash)
        if replay is not None:
            return replay
    borrower = Borrower.objects.create(tenant_id=principal.tenant, created_by=principal.subject, **fields)
    if not principal.is_service:
        grant(borrower, tenant=principal.tenant, subject=principal.subject)
    outbox_add(BorrowerCreated(**_payload_fields(borrower)), tenant_id=principal.tenant)
    if idempotency:
        CreateIdempotencyKey.objects.create(tenant_id=principal.tenant, key=idempotency[0],
                                            request_hash=idempotency[1], borrower=borrower,
                                            response_body=render(borrower) if render else {})
    return borrower


def _replay_or_conflict(*, key: str, request_hash: str) -> dict | None:
    used = CreateIdempotencyKey.objects.filter(key=key).first()
    if used is None:
        return None
    if used.request_hash != request_hash:
        raise Conflict(errors.IDEMPOTENCY_KEY_REUSED, code=errors.BorrowerErrorCode.IDEMPOTENCY_KEY_REUSED)
    return used.response_body


async def borrower_create(*, principal: Principal, fields: dict[str, Any], idempotency_key: str | None = None,
                          render=None) -> Borrower | dict:
    """Create a borrower in the principal's tenant; the creator gets view and change on it.

    With ``idempotency_key``, the key is stored in the create's transaction: the same key with the
    same fields answers the first response again (returned as the stored ``dict``, rendered by
    ``render`` the first time); with other fields it is a 409. The identity check is not run here:
    it follows ``borrowers.borrower.created.v1`` (handlers.py)."""
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    idempotency = (idempotency_key, _fingerprint(fields)) if idempotency_key else None
    try:
        return await run_atomic(_borrower_create_tx, principal=principal, fields=fields, idempotency=idempotency,
                                render=render)
    except IntegrityError as exc:
        if idempotency and _constraint_of(exc) == IDEMPOTENCY_CONSTRAINT:
            # A concurrent request with the same key committed first (its key blocked this insert): answer as it did.
            replay = await run_atomic(_replay_or_conflict, key=idempotency[0], request_hash=idempotency[1])
            if replay is not None:
                return replay
        raise


def _fingerprint(fields: dict[str, Any]) -> str:
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _borrower_update_tx(*, borrower_id: uuid.UUID, changes: dict[str, Any], expected_version: int | None) -> Borrower:
    borrower = Borrower.objects.select_for_update().filter(id=borrower_id).first()
    if borrower is None:
        raise NotFound(errors.NOT_FOUND, code=errors.BorrowerErrorCode.NOT_FOUND)
    if expected_version is not None and expected_version != borrower.version:
        raise Conflict(errors.VERSION_MISMATCH.format(current=borrower.version, expected=expected_version),
                       code=errors.BorrowerErrorCode.VERSION_MISMATCH)
    changed = [name for name, value in changes.items() if getattr(borrower, name) != value]
    if not changed:
        return borrower
    for name in changed:
        setattr(borrower, name, changes[name])
    update_fields = [*changed, "version", "updated_at"]
    if any(name in IDENTITY_FIELDS for name in changed) and borrower.kyc_status != KycStatus.PENDING:
        borrower.kyc_status, borrower.kyc_reason, borrower.identity_reference = KycStatus.PENDING, None, None
        update_fields += ["kyc_status", "kyc_reason", "identity_reference"]
    borrower.version += 1
    borrower.save(update_fields=update_fields)
    outbox_add(BorrowerUpdated(**_payload_fields(borrower), changed=sorted(changed)))
    return borrower


async def borrower_update(*, principal: Principal, borrower_id: uuid.UUID, changes: dict[str, Any],
                          expected_version: int | None = None) -> Borrower:
    """Partially update a borrower the principal may change; ``expected_version`` guards lost updates.

    Changing a name or the date of birth sends the borrower back to KYC ``pending`` (a new check
    follows ``borrowers.borrower.updated.v1``)."""
    borrower = await borrower_get(principal=principal, borrower_id=borrower_id)
    if not await ahas_object_perm(principal, borrower, "change"):
        raise Forbidden(errors.CHANGE_NOT_ALLOWED, code=errors.BorrowerErrorCode.CHANGE_NOT_ALLOWED)
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    cleared = [name for name in REQUIRED_FIELDS if name in changes and changes[name] is None]
    if cleared:
        raise Unprocessable("the request is not valid", code="validation_error",
                            errors=[{"loc": ["body", "payload", name], "msg": "may not be null"} for name in cleared])
    return await run_atomic(_borrower_update_tx, borrower_id=borrower_id, changes=changes,
                            expected_version=expected_version)


def _borrower_assign_tx(*, tenant: str, borrower_id: uuid.UUID, subject: str, perms: tuple[str, ...]) -> Borrower:
    borrower = Borrower.objects.filter(id=borrower_id).first()
    if borrower is None:
        raise NotFound(errors.NOT_FOUND, code=errors.BorrowerErrorCode.NOT_FOUND)
    grant(borrower, tenant=tenant, subject=subject, perms=perms)
    return borrower


async def borrower_assign(*, principal: Principal, borrower_id: uuid.UUID, subject: str,
                          perms: tuple[str, ...] = ("view", "change")) -> Borrower:
    """Grant ``subject`` (a user of the principal's tenant) ``perms`` on the borrower (portfolio assignment)."""
    return await run_atomic(_borrower_assign_tx, tenant=principal.tenant, borrower_id=borrower_id,
                            subject=subject, perms=tuple(perms))
