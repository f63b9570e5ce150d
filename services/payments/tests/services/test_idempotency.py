"""Idempotency keys on POST /payments: in-flight keys and abandoned claims (a request that lost its claim:
libs/common/tests/test_idempotency.py)."""

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from common import idempotency
from common.idempotency import request_fingerprint
from common.tenancy import tenant_context
from django.utils import timezone
from payments.models import IdempotencyRecord

from tests.factories import payment_request, post_payment, stored_counts

pytestmark = pytest.mark.django_db(transaction=True)


@sync_to_async
def _in_flight(tenant: str, key: str, body: dict, *, age: timedelta = timedelta(0)) -> IdempotencyRecord:
    fingerprint = request_fingerprint(method="POST", path="/api/v1/payments", body=body)
    with tenant_context(tenant):
        record = IdempotencyRecord.objects.create(key=key, request_hash=fingerprint)
    IdempotencyRecord.all_tenants.filter(pk=record.pk).update(updated_at=timezone.now() - age)
    return record


async def test_a_key_still_in_flight_is_a_409_after_waiting(client, loans_api, monkeypatch):
    # given another request holds the key (in flight) for the same body
    monkeypatch.setattr(idempotency, "WAIT_SECONDS", 0.3)
    loan_id = loans_api.add("acme")
    body = payment_request(loan_id)
    await _in_flight("acme", "busy", body)
    # when the same request comes in
    response = await post_payment(client, "acme", body, key="busy")
    # then it is told to retry later, and nothing was created
    assert response.status_code == 409 and response.json()["type"].endswith("idempotency_key_in_flight")
    assert (await stored_counts())["payments"] == 0


async def test_an_abandoned_claim_is_taken_over(client, loans_api, processor, payments_http):
    # given a claim left in flight by a process that died a while ago
    loan_id = loans_api.add("acme")
    body = payment_request(loan_id)
    await _in_flight("acme", "orphan", body, age=timedelta(minutes=5))
    # when the client retries with the key
    response = await post_payment(client, "acme", body, key="orphan")
    # then the payment is recorded under it
    assert response.status_code == 201
    assert (await stored_counts())["keys"] == 1
