"""``Idempotency-Key`` handling for money-moving writes.

``idempotency_begin`` either claims the key for this request (``Claim``), or answers with the stored
response of the request that used it first (``Replay``). Concurrent requests with one key serialize
on the unique ``(tenant, key)`` index: one inserts and owns the key; the others wait (polling the
row, holding no transaction) until it completes and then replay its response, so twenty concurrent
retries get twenty identical answers and one payment. A different body under the same key is a 409
at once; a key still in flight after ``WAIT_SECONDS`` is a 409 (retry later). A request that fails
releases its key, so a corrected retry may use it again; a claim abandoned by a crashed process is
taken over after ``STALE_AFTER``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from common.db import run_atomic
from common.errors import Conflict
from django.db import IntegrityError, transaction
from django.utils import timezone

from payments.errors import MESSAGES, PaymentError
from payments.models import IdempotencyRecord, IdempotencyState

WAIT_SECONDS = 15.0
POLL_SECONDS = 0.05
STALE_AFTER = timedelta(seconds=60)


@dataclass(frozen=True)
class Claim:
    record_id: int
    token: uuid.UUID


@dataclass(frozen=True)
class Replay:
    status: int
    body: str          # the JSON document exactly as first sent


def request_fingerprint(*, method: str, path: str, body: dict) -> str:
    """SHA-256 of the request as it was understood (key order and whitespace do not matter)."""
    canonical = json.dumps({"method": method, "path": path, "body": body}, sort_keys=True, separators=(",", ":"),
                           default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _claim_or_inspect_tx(*, key: str, request_hash: str) -> Claim | Replay | None:
    try:
        with transaction.atomic():      # a savepoint: a lost insert race leaves the outer block usable
            record = IdempotencyRecord.objects.create(key=key, request_hash=request_hash)
        return Claim(record.id, record.claim_token)
    except IntegrityError:
        pass
    record = IdempotencyRecord.objects.select_for_update().get(key=key)
    if record.request_hash != request_hash:
        raise Conflict(MESSAGES[PaymentError.IDEMPOTENCY_KEY_REUSED], code=PaymentError.IDEMPOTENCY_KEY_REUSED)
    if record.state == IdempotencyState.COMPLETED:
        return Replay(record.response_status, record.response_body)
    if record.updated_at < timezone.now() - STALE_AFTER:
        record.claim_token = uuid.uuid4()
        record.save(update_fields=["claim_token", "updated_at"])
        return Claim(record.id, record.claim_token)
    return None


async def idempotency_begin(*, key: str, request_hash: str, wait_seconds: float | None = None) -> Claim | Replay:
    deadline = time.monotonic() + (WAIT_SECONDS if wait_seconds is None else wait_seconds)
    while True:
        outcome = await run_atomic(_claim_or_inspect_tx, key=key, request_hash=request_hash)
        if outcome is not None:
            return outcome
        if time.monotonic() >= deadline:
            raise Conflict(MESSAGES[PaymentError.IDEMPOTENCY_KEY_IN_FLIGHT], code=PaymentError.IDEMPOTENCY_KEY_IN_FLIGHT)
        await asyncio.sleep(POLL_SECONDS)


def owned_record_tx(claim: Claim) -> IdempotencyRecord:
    """Lock the claimed record inside the caller's transaction; refuse if this request lost its claim."""
    record = IdempotencyRecord.objects.select_for_update().get(pk=claim.record_id)
    if record.state != IdempotencyState.IN_FLIGHT or record.claim_token != claim.token:
        raise Conflict(MESSAGES[PaymentError.IDEMPOTENCY_KEY_IN_FLIGHT], code=PaymentError.IDEMPOTENCY_KEY_IN_FLIGHT)
    return record


def idempotency_complete_tx(record: IdempotencyRecord, *, status: int, body: str, payment=None) -> None:
    record.state = IdempotencyState.COMPLETED
    record.response_status = status
    record.response_body = body
    record.payment = payment
    record.save(update_fields=["state", "response_status", "response_body", "payment", "updated_at"])


def _release_tx(claim: Claim) -> None:
    IdempotencyRecord.objects.filter(pk=claim.record_id, claim_token=claim.token,
                                     state=IdempotencyState.IN_FLIGHT).delete()


async def idempotency_release(claim: Claim) -> None:
    """Forget a claim whose request failed: nothing was stored, so the key may be used again."""
    await run_atomic(_release_tx, claim)
