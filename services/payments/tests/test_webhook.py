"""POST /api/v1/webhooks/processor: signed, fresh, applied once."""

import json
import time
import uuid

import pytest
from common.testing import bearer
from payments.providers.signing import sign, webhook_secret

from tests.factories import outbox, payment_request, payment_row, post_payment

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/webhooks/processor"


@pytest.fixture
async def pending_payment(client, loans_api, processor, payments_http):
    processor.control("/control/behaviour", {"outcome": "hold"})
    loan_id = loans_api.add("acme")
    response = await post_payment(client, "acme", payment_request(loan_id))
    assert response.status_code == 201
    return response.json()


def callback(payment: dict, type_: str = "charge.settled", **extra) -> bytes:
    return json.dumps({"event_id": uuid.uuid4().hex, "type": type_, "charge_id": "", "payment_id": payment["id"],
                       "tenant_id": "acme", **extra}).encode()


async def deliver(client, body: bytes, headers: dict):
    return await client.post(URL, content=body, headers={"Content-Type": "application/json", **headers})


@pytest.mark.parametrize("make_headers", [
    lambda body: {},
    lambda body: sign(body, secret="not-the-secret"),
    lambda body: sign(body, secret=webhook_secret(), timestamp=int(time.time()) - 301),
    lambda body: sign(body, secret=webhook_secret(), timestamp=int(time.time()) + 301),
    lambda body: sign(body + b" ", secret=webhook_secret()),
    lambda body: {**sign(body, secret=webhook_secret()), "X-Processor-Timestamp": "yesterday"},
], ids=["unsigned", "wrong-secret", "stale", "future", "tampered-body", "bad-timestamp"])
async def test_a_bad_or_stale_signature_is_401_and_changes_nothing(client, pending_payment, make_headers):
    # given a settle callback for a pending payment, signed wrongly
    body = callback(pending_payment)
    # when delivered
    response = await deliver(client, body, make_headers(body))
    # then 401 problem, and the payment is still pending with no settlement written
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert (await payment_row(pending_payment["id"])).status == "pending"
    assert await outbox("ledger.allocate_payment") == []


async def test_a_signed_settle_applies_once_and_a_replay_has_no_second_effect(client, pending_payment):
    # given a correctly signed settle callback
    body = callback(pending_payment)
    headers = sign(body, secret=webhook_secret())
    # when it is delivered, then replayed with the very same bytes and signature
    first = await deliver(client, body, headers)
    replay = await deliver(client, body, headers)
    shown = (await client.get(f"/api/v1/payments/{pending_payment['id']}", headers=bearer("acme", "viewer"))).json()
    # then the first settles the payment, the replay is acknowledged as a duplicate
    assert first.status_code == 200 and first.json() == {"received": True, "duplicate": False, "outcome": "applied"}
    assert replay.status_code == 200 and replay.json()["duplicate"] is True
    assert shown["status"] == "settled"
    # and exactly one settled event and one allocate command were written
    assert len(await outbox("payments.payment.settled.v1")) == 1
    assert len(await outbox("ledger.allocate_payment")) == 1


async def test_a_second_settle_with_a_new_event_id_is_ignored_by_the_state_guard(client, pending_payment):
    for _ in range(2):
        body = callback(pending_payment)
        response = await deliver(client, body, sign(body, secret=webhook_secret()))
    assert response.status_code == 200 and response.json()["outcome"] == "ignored"
    assert len(await outbox("ledger.allocate_payment")) == 1


async def test_a_callback_naming_another_tenant_does_not_touch_the_payment(client, pending_payment):
    body = callback(pending_payment, tenant_id="globex")
    response = await deliver(client, body, sign(body, secret=webhook_secret()))
    assert response.status_code == 200 and response.json()["outcome"] == "unknown_payment"
    assert (await payment_row(pending_payment["id"])).status == "pending"


async def test_a_malformed_signed_body_is_400(client, pending_payment):
    body = b'{"type": "charge.settled"}'
    response = await deliver(client, body, sign(body, secret=webhook_secret()))
    assert response.status_code == 400
