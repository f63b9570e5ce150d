"""common.idempotency: one key, one record, one answer — against the real PostgreSQL."""

import asyncio
import json
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from common import idempotency
from common.db import run_atomic
from common.errors import Conflict, Unprocessable
from common.idempotency import (
    Claim,
    IdempotencyState,
    Replay,
    idempotency_begin,
    idempotency_complete_tx,
    idempotency_key_from_header,
    idempotency_owned_tx,
    idempotency_replay,
    idempotent,
    idempotent_write,
    request_fingerprint,
)
from common.tenancy import tenant_context
from django.utils import timezone
from testproject.testapp.models import IdempotencyRecord, Widget

pytestmark = pytest.mark.django_db(transaction=True)


class Boom(Exception):
    pass


def _widget_create_tx(*, claim: Claim | None, name: str, fail: bool = False, pause: float = 0.0) -> tuple[int, str]:
    record = idempotency_owned_tx(claim)
    widget = Widget.objects.create(name=name)
    if pause:
        import time
        time.sleep(pause)           # hold the claim a while, as a slow write would
    if fail:
        raise Boom()
    body = json.dumps({"id": widget.id, "name": widget.name})
    idempotency_complete_tx(record, status=201, body=body, widget=widget)
    return 201, body


async def _create(key: str | None, name: str, **kw) -> idempotency.Answer:
    fingerprint = request_fingerprint(method="POST", path="/widgets", body={"name": name})
    return await idempotent(IdempotencyRecord, key=key, request_hash=fingerprint,
                            perform=lambda claim: run_atomic(_widget_create_tx, claim=claim, name=name, **kw))


# --- the header and the fingerprint ----------------------------------------------------------------

def test_no_header_means_no_key_and_a_key_is_trimmed():
    assert idempotency_key_from_header(None) is None
    assert idempotency_key_from_header("  k-1 ") == "k-1"
    assert idempotency_key_from_header("x" * 255) == "x" * 255


@pytest.mark.parametrize("raw", ["", "   ", "x" * 256, "a\x00b", "a\tb"])
def test_an_empty_over_long_or_control_character_key_is_a_422(raw):
    with pytest.raises(Unprocessable) as exc:
        idempotency_key_from_header(raw)
    assert exc.value.code == "idempotency_key_invalid"
    assert exc.value.errors[0]["loc"] == ["header", "Idempotency-Key"]


def test_the_fingerprint_ignores_key_order_but_not_values_or_the_endpoint():
    a = request_fingerprint(method="POST", path="/w", body={"a": 1, "b": "2"})
    assert a == request_fingerprint(method="POST", path="/w", body={"b": "2", "a": 1})
    assert a != request_fingerprint(method="POST", path="/w", body={"a": 1, "b": "3"})
    assert a != request_fingerprint(method="POST", path="/other", body={"a": 1, "b": "2"})


# --- one key, one record ---------------------------------------------------------------------------

async def test_the_same_key_and_body_gets_the_first_answer_and_makes_one_record():
    with tenant_context("acme"):
        # given a first create under a key
        first = await _create("k1", "bolt")
        # when it is sent again
        again = await _create("k1", "bolt")
        # then the answer is the same bytes, marked as a replay, and there is one widget
        assert (first.status, first.body, first.replayed) == (201, again.body, False)
        assert again.replayed is True and again.status == 201
        assert await Widget.objects.acount() == 1
        record = await IdempotencyRecord.objects.aget(key="k1")
        assert record.state == IdempotencyState.COMPLETED and record.widget_id == json.loads(first.body)["id"]


async def test_the_same_key_with_another_body_is_a_409_and_creates_nothing():
    with tenant_context("acme"):
        await _create("k1", "bolt")
        with pytest.raises(Conflict) as exc:
            await _create("k1", "nut")
        assert exc.value.code == "idempotency_key_reused"
        assert await Widget.objects.acount() == 1


async def test_without_a_key_every_request_is_new():
    with tenant_context("acme"):
        a, b = await _create(None, "bolt"), await _create(None, "bolt")
        assert a.body != b.body and not b.replayed
        assert await Widget.objects.acount() == 2
        assert await IdempotencyRecord.objects.acount() == 0


async def test_keys_belong_to_a_tenant():
    with tenant_context("acme"):
        await _create("k1", "bolt")
    with tenant_context("globex"):
        other = await _create("k1", "nut")          # another tenant's key is not a conflict
        assert other.replayed is False
    assert await Widget.all_tenants.acount() == 2


async def test_twenty_concurrent_duplicates_make_one_record_and_twenty_equal_answers():
    with tenant_context("acme"):
        # when twenty requests with one key race, the owner holding its claim for a moment
        answers = await asyncio.gather(*(_create("race", "bolt", pause=0.2) for _ in range(20)))
        # then one widget, and every answer is the owner's
        assert await Widget.objects.acount() == 1
        assert {a.body for a in answers} == {answers[0].body} and {a.status for a in answers} == {201}
        assert sum(not a.replayed for a in answers) == 1


# --- failures, in-flight and abandoned keys ------------------------------------------------------

async def test_a_failed_request_releases_its_key_and_stores_nothing():
    with tenant_context("acme"):
        with pytest.raises(Boom):
            await _create("k1", "bolt", fail=True)
        assert await Widget.objects.acount() == 0 and await IdempotencyRecord.objects.acount() == 0
        # a corrected retry may use the key
        assert (await _create("k1", "bolt")).status == 201


@sync_to_async
def _in_flight(tenant: str, key: str, name: str, *, age: timedelta = timedelta(0)) -> IdempotencyRecord:
    fingerprint = request_fingerprint(method="POST", path="/widgets", body={"name": name})
    with tenant_context(tenant):
        record = IdempotencyRecord.objects.create(key=key, request_hash=fingerprint)
    IdempotencyRecord.all_tenants.filter(pk=record.pk).update(updated_at=timezone.now() - age)
    return record


async def test_a_key_still_in_flight_is_a_409_after_waiting(monkeypatch):
    monkeypatch.setattr(idempotency, "WAIT_SECONDS", 0.3)
    await _in_flight("acme", "busy", "bolt")
    with tenant_context("acme"):
        with pytest.raises(Conflict) as exc:
            await _create("busy", "bolt")
        assert exc.value.code == "idempotency_key_in_flight"
        assert await Widget.objects.acount() == 0


async def test_an_abandoned_claim_is_taken_over_and_its_first_owner_cannot_complete_it():
    # given a claim left in flight by a process that died a while ago
    orphan = await _in_flight("acme", "orphan", "bolt", age=timedelta(minutes=5))
    with tenant_context("acme"):
        # when the client retries, then the retry owns the key and creates the widget
        answer = await _create("orphan", "bolt")
        assert answer.status == 201 and not answer.replayed
        # and the request that held the old claim cannot complete it: its write is rolled back
        stale = Claim(IdempotencyRecord, orphan.pk, orphan.claim_token)
        with pytest.raises(Conflict):
            await run_atomic(_widget_create_tx, claim=stale, name="bolt")
        assert await Widget.objects.acount() == 1


async def test_a_replay_waits_for_the_owner_then_answers_with_its_response():
    with tenant_context("acme"):
        fingerprint = request_fingerprint(method="POST", path="/widgets", body={"name": "bolt"})
        claim = await idempotency_begin(IdempotencyRecord, key="slow", request_hash=fingerprint)
        assert isinstance(claim, Claim)
        waiter = asyncio.create_task(idempotency_begin(IdempotencyRecord, key="slow", request_hash=fingerprint))
        await asyncio.sleep(0.2)
        assert not waiter.done()
        await run_atomic(_widget_create_tx, claim=claim, name="bolt")
        replay = await waiter
        assert isinstance(replay, Replay) and replay.status == 201


# --- claim and write in one transaction (idempotent_write) -------------------------------------------

def _widget_write_tx(*, record, name: str, fail: bool = False, pause: float = 0.0):
    widget = Widget.objects.create(name=name)
    if pause:
        import time
        time.sleep(pause)           # a slow write: concurrent requests with the key wait on its index
    if fail:
        raise Boom()
    body = json.dumps({"id": widget.id, "name": widget.name})
    idempotency_complete_tx(record, status=201, body=body, widget=widget)
    return 201, body, widget


async def _write(key: str, name: str, **kw):
    fingerprint = request_fingerprint(method="POST", path="/widgets", body={"name": name})
    return await idempotent_write(IdempotencyRecord, key=key, request_hash=fingerprint, write_tx=_widget_write_tx,
                                  name=name, **kw)


async def test_idempotent_write_claims_and_writes_once_and_replays_byte_for_byte():
    with tenant_context("acme"):
        first = await _write("w-1", "anvil")
        again = await _write("w-1", "anvil")
        with pytest.raises(Conflict):
            await _write("w-1", "hammer")
        assert await sync_to_async(Widget.objects.count)() == 1
    assert isinstance(first, idempotency.Written) and isinstance(again, Replay)
    assert (again.status, again.body) == (first.status, first.body) and first.result.name == "anvil"


async def test_a_failed_idempotent_write_leaves_neither_key_nor_row():
    with tenant_context("acme"):
        with pytest.raises(Boom):
            await _write("w-2", "anvil", fail=True)
        assert await sync_to_async(IdempotencyRecord.objects.count)() == 0
        retried = await _write("w-2", "anvil")           # the key is free for the corrected retry
        assert await sync_to_async(Widget.objects.count)() == 1
    assert isinstance(retried, idempotency.Written)


async def test_concurrent_idempotent_writes_with_one_key_make_one_row_and_the_same_answer():
    with tenant_context("acme"):
        outcomes = await asyncio.gather(*(_write("w-3", "anvil", pause=0.2) for _ in range(8)))
        assert await sync_to_async(Widget.objects.count)() == 1
    written = [o for o in outcomes if isinstance(o, idempotency.Written)]
    assert len(written) == 1
    assert {(o.status, o.body) for o in outcomes} == {(written[0].status, written[0].body)}


async def test_a_failed_check_of_a_completed_key_replays_it():
    fingerprint = request_fingerprint(method="POST", path="/widgets", body={"name": "anvil"})
    with tenant_context("acme"):
        assert await idempotency_replay(IdempotencyRecord, key="w-4", request_hash=fingerprint) is None
        first = await _write("w-4", "anvil")
        replay = await idempotency_replay(IdempotencyRecord, key="w-4", request_hash=fingerprint)
        with pytest.raises(Conflict):
            await idempotency_replay(IdempotencyRecord, key="w-4", request_hash="another body")
    assert (replay.status, replay.body) == (first.status, first.body)


def _widget_write_forgetting_the_key_tx(*, record, name: str):
    widget = Widget.objects.create(name=name)
    return 201, "{}", widget


async def test_a_write_that_forgets_to_complete_the_key_is_refused_and_keeps_nothing():
    fingerprint = request_fingerprint(method="POST", path="/widgets", body={"name": "anvil"})
    with tenant_context("acme"):
        with pytest.raises(RuntimeError):
            await idempotent_write(IdempotencyRecord, key="w-5", request_hash=fingerprint,
                                   write_tx=_widget_write_forgetting_the_key_tx, name="anvil")
        assert await sync_to_async(IdempotencyRecord.objects.count)() == 0
        assert await sync_to_async(Widget.objects.count)() == 0
