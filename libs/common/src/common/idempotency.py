"""``Idempotency-Key`` for writes that move money or create records (API.md: same key and same body →
the first response again, same status and body; same key and another body → 409).

A service declares one concrete table, ``class IdempotencyRecord(IdempotencyRecordBase)`` (add a
foreign key to what it creates if it likes), and follows one shape per write:

    key = idempotency_key_from_header(header)            # None: no key, every request is new
    answer = await idempotent(IdempotencyRecord, key=key,
                              request_hash=request_fingerprint(method="POST", path=..., body=...),
                              perform=lambda claim: run_atomic(_thing_create_tx, claim=claim, ...))
    return idempotent_response(answer)

    def _thing_create_tx(*, claim, ...):                 # one transaction (common.db.run_atomic)
        record = idempotency_owned_tx(claim)             # lock the key; refuse a lost claim
        thing = Thing.objects.create(...); outbox_add(...)
        body = response_json(ThingOut, thing_out(thing))  # the bytes ninja would send
        idempotency_complete_tx(record, status=201, body=body)
        return 201, body

A write whose checks call out first (payments checks the loan over REST) claims the key and writes in
one transaction instead: ``await idempotent_write(Model, key=..., request_hash=..., write_tx=fn, **kw)``
(``fn(record=..., **kw)`` writes, completes the record and returns ``(status, body, result)``), and on a
failed check asks ``idempotency_replay`` whether the key already holds a completed answer.

How it holds: ``idempotency_begin`` either claims the key (``Claim``) by inserting the row of the
unique ``(tenant, key)`` index, or answers with the stored response (``Replay``). Concurrent requests
with one key serialize on that index: one inserts and owns the key; the others wait (polling the
row, holding no transaction; with ``idempotent_write`` on the index for the length of the writing
transaction) until it completes and then replay its response, so twenty concurrent
retries get twenty identical answers and one record. A different body under the same key is a 409
at once; a key still in flight after ``WAIT_SECONDS`` is a 409 (retry later). A request that fails
releases its key, so a corrected retry may use it again; a claim abandoned by a crashed process is
taken over after ``STALE_AFTER``, and the request that lost it can no longer complete it. The
completion is written in the transaction of the record it describes: both commit or neither does.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, models, transaction
from django.db.models import Q
from django.http import HttpResponse
from django.utils import timezone
from ninja.responses import NinjaJSONEncoder

from common.db import run_atomic, run_sync
from common.errors import Conflict, Unprocessable
from common.tenancy import TenantModel

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
WAIT_SECONDS = 15.0
POLL_SECONDS = 0.05
STALE_AFTER = timedelta(seconds=60)

KEY_REUSED = "idempotency_key_reused"
KEY_IN_FLIGHT = "idempotency_key_in_flight"
KEY_INVALID = "idempotency_key_invalid"
MESSAGES = {
    KEY_REUSED: "this Idempotency-Key was already used with a different request",
    KEY_IN_FLIGHT: "a request with this Idempotency-Key is still being processed; retry later",
    KEY_INVALID: f"the Idempotency-Key header must be 1 to {MAX_KEY_LENGTH} visible characters",
}
HEADER_DOC = ("optional; the same key with the same body returns the first response again, "
              "the same key with another body is a 409")


class IdempotencyState(models.TextChoices):
    IN_FLIGHT = "in_flight"
    COMPLETED = "completed"


class IdempotencyRecordBase(TenantModel):
    """One ``Idempotency-Key`` of a tenant: the request it was first used with and the response sent.

    The unique constraint, not a check-then-insert, is what makes two concurrent requests with one
    key create one record. ``claim_token`` identifies the request that owns an in-flight key, so a
    request that outlived its claim (taken over after a crash) cannot complete it.
    """

    id = models.BigAutoField(primary_key=True)
    key = models.CharField(max_length=MAX_KEY_LENGTH)
    request_hash = models.CharField(max_length=64)
    state = models.CharField(max_length=16, choices=IdempotencyState.choices, default=IdempotencyState.IN_FLIGHT)
    claim_token = models.UUIDField(default=uuid.uuid4)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(null=True, blank=True)   # the exact bytes sent (jsonb would reorder keys)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta(TenantModel.Meta):
        abstract = True
        constraints = [
            models.UniqueConstraint(fields=["tenant_id", "key"], name="%(app_label)s_%(class)s_key_once"),
            models.CheckConstraint(
                condition=Q(state="in_flight") | Q(response_status__isnull=False, response_body__isnull=False),
                name="%(app_label)s_%(class)s_completed_has_response"),
        ]

    def __str__(self) -> str:
        return f"idempotency key {self.key!r} ({self.state})"


@dataclass(frozen=True)
class Claim:
    model: type[IdempotencyRecordBase]
    record_id: int
    token: uuid.UUID


@dataclass(frozen=True)
class Replay:
    status: int
    body: str          # the JSON document exactly as first sent


@dataclass(frozen=True)
class Answer:
    status: int
    body: str
    replayed: bool


# --- the request ---------------------------------------------------------------------------------

def idempotency_key_from_header(raw: str | None) -> str | None:
    """The key of a request: ``None`` without the header (no idempotency: the request is new); an
    empty or over-long key, or one with control characters, is a 422."""
    if raw is None:
        return None
    key = raw.strip()
    if not key or len(key) > MAX_KEY_LENGTH or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in key):
        raise Unprocessable(MESSAGES[KEY_INVALID], code=KEY_INVALID,
                            errors=[{"loc": ["header", HEADER], "msg": f"1 to {MAX_KEY_LENGTH} visible characters"}])
    return key


def request_fingerprint(*, method: str, path: str, body: Any) -> str:
    """SHA-256 of the request as it was understood (key order and whitespace do not matter)."""
    canonical = json.dumps({"method": method, "path": path, "body": body}, sort_keys=True, separators=(",", ":"),
                           default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def response_json(schema: Any, data: Any) -> str:
    """``data`` rendered through the response ``schema`` exactly as django-ninja renders it, so the
    stored answer, its replays and a request without a key are byte for byte alike."""
    return json.dumps(schema.model_validate(data).model_dump(), cls=NinjaJSONEncoder)


def idempotent_response(answer: Answer) -> HttpResponse:
    """The HTTP answer: the stored bytes and status; ``Idempotent-Replayed`` says whether it is a repeat."""
    return HttpResponse(answer.body, status=answer.status, content_type="application/json; charset=utf-8",
                        headers={"Idempotent-Replayed": "true" if answer.replayed else "false"})


# --- the key's life ------------------------------------------------------------------------------

def _stored_answer(record: IdempotencyRecordBase, request_hash: str) -> Replay | None:
    """What a key already used answers to this request: its stored response, a 409 for another body,
    or None while it is in flight."""
    if record.request_hash != request_hash:
        raise Conflict(MESSAGES[KEY_REUSED], code=KEY_REUSED)
    if record.state == IdempotencyState.COMPLETED:
        return Replay(record.response_status, record.response_body)
    return None


async def _until_answered(attempt: Callable[[], Awaitable[Any]], wait_seconds: float | None) -> Any:
    """Run ``attempt`` (one transaction) until it answers something other than None (the key in flight),
    polling without holding a transaction; a key still in flight after the wait is a 409."""
    deadline = time.monotonic() + (WAIT_SECONDS if wait_seconds is None else wait_seconds)
    while (outcome := await attempt()) is None:
        if time.monotonic() >= deadline:
            raise Conflict(MESSAGES[KEY_IN_FLIGHT], code=KEY_IN_FLIGHT)
        await asyncio.sleep(POLL_SECONDS)
    return outcome


def _claim_record_tx(model: type[IdempotencyRecordBase], *, key: str,
                     request_hash: str) -> tuple[IdempotencyRecordBase | None, Claim | Replay | None]:
    """The key's record, locked by this transaction, and what it means for this request."""
    try:
        with transaction.atomic():      # a savepoint: a lost insert race leaves the outer block usable
            record = model.objects.create(key=key, request_hash=request_hash)
        return record, Claim(model, record.id, record.claim_token)
    except IntegrityError:
        pass
    record = model.objects.select_for_update().get(key=key)
    replay = _stored_answer(record, request_hash)
    if replay is not None:
        return record, replay
    if record.updated_at < timezone.now() - STALE_AFTER:
        record.claim_token = uuid.uuid4()
        record.save(update_fields=["claim_token", "updated_at"])
        return record, Claim(model, record.id, record.claim_token)
    return record, None


def _claim_or_inspect_tx(model: type[IdempotencyRecordBase], *, key: str, request_hash: str) -> Claim | Replay | None:
    return _claim_record_tx(model, key=key, request_hash=request_hash)[1]


async def idempotency_begin(model: type[IdempotencyRecordBase], *, key: str, request_hash: str,
                            wait_seconds: float | None = None) -> Claim | Replay:
    """Claim ``key`` for this request, or the stored response of the request that used it first
    (waiting for it while it is in flight); another body under the key is a 409."""
    return await _until_answered(lambda: run_atomic(_claim_or_inspect_tx, model, key=key, request_hash=request_hash),
                                 wait_seconds)


@dataclass(frozen=True)
class Written:
    status: int
    body: str
    result: Any        # what the write function returned besides the answer (e.g. the created row)


def _claim_and_write_tx(model: type[IdempotencyRecordBase], key: str, request_hash: str,
                        write_tx: Callable[..., tuple[int, str, Any]], kwargs: dict) -> Written | Replay | None:
    record, outcome = _claim_record_tx(model, key=key, request_hash=request_hash)
    if not isinstance(outcome, Claim):
        return outcome
    status, body, result = write_tx(record=record, **kwargs)
    if record.state != IdempotencyState.COMPLETED:
        # committed in flight, every retry would wait and then get a 409 until the claim went stale
        raise RuntimeError(f"{write_tx.__name__} did not complete the idempotency key (idempotency_complete_tx)")
    return Written(status, body, result)


async def idempotent_write(model: type[IdempotencyRecordBase], *, key: str, request_hash: str,
                           write_tx: Callable[..., tuple[int, str, Any]], wait_seconds: float | None = None,
                           **kwargs: Any) -> Written | Replay:
    """Claim ``key`` and write in ONE transaction, for a write whose checks (outside calls) ran before:
    ``write_tx(record=<the key's record, locked>, **kwargs)`` writes, calls
    ``idempotency_complete_tx(record, ...)`` and returns ``(status, body, result)``.

    Compared with ``idempotency_begin`` + a second transaction this saves a transaction per request, and
    no key is ever committed in flight by it: a failed write rolls the claim back with it. A concurrent
    request with the same key waits on the key's unique index (holding its connection) only for as long
    as this transaction lasts — no outside call happens inside it — then replays it. A repeat gets the
    stored answer (``Replay``); another body under the key is a 409; a key left in flight by
    ``idempotency_begin`` is waited for as there."""
    return await _until_answered(lambda: run_atomic(_claim_and_write_tx, model, key, request_hash, write_tx, kwargs),
                                 wait_seconds)


def _replay_of(model: type[IdempotencyRecordBase], *, key: str, request_hash: str) -> Replay | None:
    record = model.objects.filter(key=key).first()
    return None if record is None else _stored_answer(record, request_hash)


async def idempotency_replay(model: type[IdempotencyRecordBase], *, key: str, request_hash: str) -> Replay | None:
    """The stored answer of a completed key (another body under it: a 409), or None. For a request whose
    checks failed before it claimed its key: a repeat of a request that succeeded gets its first answer,
    even if what was checked has changed since."""
    return await run_sync(_replay_of, model, key=key, request_hash=request_hash)


def idempotency_owned_tx(claim: Claim | None) -> IdempotencyRecordBase | None:
    """Lock the claimed record inside the caller's transaction; refuse (409) if this request lost its
    claim. ``None`` for a request without a key."""
    if claim is None:
        return None
    record = claim.model.objects.select_for_update().get(pk=claim.record_id)
    if record.state != IdempotencyState.IN_FLIGHT or record.claim_token != claim.token:
        raise Conflict(MESSAGES[KEY_IN_FLIGHT], code=KEY_IN_FLIGHT)
    return record


def idempotency_complete_tx(record: IdempotencyRecordBase | None, *, status: int, body: str, **fields: Any) -> None:
    """Store the response in the caller's transaction (``fields``: e.g. the created record's FK)."""
    if record is None:
        return
    record.state = IdempotencyState.COMPLETED
    record.response_status = status
    record.response_body = body
    for name, value in fields.items():
        setattr(record, name, value)
    record.save(update_fields=["state", "response_status", "response_body", *fields, "updated_at"])


def _release_tx(claim: Claim) -> None:
    claim.model.objects.filter(pk=claim.record_id, claim_token=claim.token,
                               state=IdempotencyState.IN_FLIGHT).delete()


async def idempotency_release(claim: Claim) -> None:
    """Forget a claim whose request failed: nothing was stored, so the key may be used again."""
    await run_atomic(_release_tx, claim)


async def idempotent(model: type[IdempotencyRecordBase], *, key: str | None, request_hash: str,
                     perform: Callable[[Claim | None], Awaitable[tuple[int, str]]]) -> Answer:
    """Run ``perform(claim)`` once per key: it does the write and, in the write's transaction,
    ``idempotency_owned_tx(claim)`` + ``idempotency_complete_tx(...)``, returning ``(status, body)``.
    A repeat gets the stored answer; a failure releases the key. Without a key it just runs."""
    if key is None:
        status, body = await perform(None)
        return Answer(status, body, False)
    outcome = await idempotency_begin(model, key=key, request_hash=request_hash)
    if isinstance(outcome, Replay):
        return Answer(outcome.status, outcome.body, True)
    try:
        status, body = await perform(outcome)
    except BaseException:
        await idempotency_release(outcome)
        raise
    return Answer(status, body, False)
