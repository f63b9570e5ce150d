"""The processor round trip over real HTTP: charge → signed callback → settled/failed/returned,
and a processor outage that leaves the payment pending until the sweep gets it charged."""

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from common.testing import await_until, bearer
from django.utils import timezone
from payments.charging import charge_due_payments
from payments.models import Payment

from tests.factories import outbox, payment_request, payment_row, post_payment

pytestmark = pytest.mark.django_db(transaction=True)


async def status_of(payment_id) -> str:
    return (await payment_row(payment_id)).status


async def test_the_sandbox_settles_a_payment_and_settlement_writes_the_allocate_command(
        client, loans_api, processor, payments_http):
    # given an active loan and the sandbox in its default behaviour (settle within a second)
    loan_id = loans_api.add("acme")
    # when a payment is posted
    created = (await post_payment(client, "acme", payment_request(loan_id, amount="120.00"))).json()
    # then the processor's signed callback settles it over HTTP
    await await_until(lambda: _is(created["id"], "settled"), timeout=10, message="payment settled")
    [charge] = processor.charges(created["id"])
    assert charge["status"] == "settled" and charge["callbacks"][0]["delivered"] is True
    assert (await payment_row(created["id"])).processor_reference == charge["id"]
    # and the settled event and the worker's allocate command were written with the state change
    [settled] = await outbox("payments.payment.settled.v1")
    assert settled.body["payload"]["processor_reference"] == charge["id"]
    [command] = await outbox("ledger.allocate_payment")
    assert command.kind == "command" and command.tenant_id == "acme"
    assert command.body["args"] == [created["id"], str(loan_id), "120.00", "USD", "2025-02-01"]
    assert command.body["queue"] == "ledger"


async def _is(payment_id, status) -> bool:
    return await status_of(payment_id) == status


async def test_a_declined_charge_fails_the_payment(client, loans_api, processor, payments_http):
    # given the sandbox told to decline
    processor.control("/control/behaviour", {"outcome": "fail", "delay_seconds": 0.05, "reason": "card declined"})
    loan_id = loans_api.add("acme")
    # when a payment is posted
    created = (await post_payment(client, "acme", payment_request(loan_id, method="card"))).json()
    # then it ends failed, with the failed event and no allocate command
    await await_until(lambda: _is(created["id"], "failed"), timeout=10, message="payment failed")
    assert (await payment_row(created["id"])).failure_reason == "card declined"
    [failed] = await outbox("payments.payment.failed.v1")
    assert failed.body["payload"]["reason"] == "card declined"
    assert await outbox("ledger.allocate_payment") == []


async def test_one_correlation_id_follows_the_payment_from_the_post_to_the_allocate_command(client, loans_api,
                                                                                            processor, payments_http):
    # given a payment posted under a correlation id
    loan_id = loans_api.add("acme")
    headers = {**bearer("acme", "collector"), "Idempotency-Key": "corr-1", "X-Correlation-Id": "trace-4711"}
    created = (await client.post("/api/v1/payments", json=payment_request(loan_id), headers=headers)).json()
    # when the processor's callback (a request of its own, with its own id) settles it
    await await_until(lambda: _is(created["id"], "settled"), timeout=10, message="payment settled")
    # then the received and settled events and the ledger's allocate command all carry the POST's id
    rows = [*(await outbox("payments.payment.received.v1")), *(await outbox("payments.payment.settled.v1")),
            *(await outbox("ledger.allocate_payment"))]
    assert len(rows) == 3
    assert {row.correlation_id for row in rows} == {"trace-4711"}
    assert (await payment_row(created["id"])).correlation_id == "trace-4711"


async def test_a_processor_return_after_settlement_sends_the_reversal_command(client, loans_api, processor,
                                                                              payments_http):
    # given a settled payment
    loan_id = loans_api.add("acme")
    created = (await post_payment(client, "acme", payment_request(loan_id))).json()
    await await_until(lambda: _is(created["id"], "settled"), timeout=10, message="payment settled")
    [charge] = processor.charges(created["id"])
    # when the processor returns it (NSF)
    processor.control(f"/charges/{charge['id']}/return", {"reason": "R01 insufficient funds"})
    # then it is returned, with the returned event and the worker's reversal command
    await await_until(lambda: _is(created["id"], "returned"), timeout=10, message="payment returned")
    [command] = await outbox("ledger.reverse_payment")
    assert command.body["args"] == [created["id"], "R01 insufficient funds"]
    assert len(await outbox("payments.payment.returned.v1")) == 1


async def test_return_through_the_api_reverses_once_and_refuses_a_pending_payment(client, loans_api, processor,
                                                                                  payments_http):
    # given one settled and one pending payment
    loan_id = loans_api.add("acme")
    settled = (await post_payment(client, "acme", payment_request(loan_id))).json()
    await await_until(lambda: _is(settled["id"], "settled"), timeout=10, message="payment settled")
    processor.control("/control/behaviour", {"outcome": "hold"})
    pending = (await post_payment(client, "acme", payment_request(loan_id))).json()
    collector = bearer("acme", "collector")
    # when a collector returns both, and the settled one twice
    first = await client.post(f"/api/v1/payments/{settled['id']}/return", json={"reason": "NSF"}, headers=collector)
    again = await client.post(f"/api/v1/payments/{settled['id']}/return", json={"reason": "NSF"}, headers=collector)
    refused = await client.post(f"/api/v1/payments/{pending['id']}/return", json={"reason": "NSF"}, headers=collector)
    viewer = await client.post(f"/api/v1/payments/{settled['id']}/return", json={"reason": "NSF"},
                               headers=bearer("acme", "viewer"))
    other = await client.post(f"/api/v1/payments/{settled['id']}/return", json={"reason": "NSF"},
                              headers=bearer("globex", "admin"))
    # then the settled one is returned once (one reversal command), the pending one is a 409
    assert first.status_code == 200 and first.json()["status"] == "returned"
    assert again.status_code == 200 and again.json()["status"] == "returned"
    assert refused.status_code == 409 and await status_of(pending["id"]) == "pending"
    assert viewer.status_code == 403 and other.status_code == 404
    [command] = await outbox("ledger.reverse_payment")
    assert command.body["args"] == [settled["id"], "NSF"]


async def test_a_return_retried_with_its_key_gets_the_first_answer_byte_for_byte(client, loans_api, processor,
                                                                                 payments_http):
    # given a settled payment, returned under a key
    loan_id = loans_api.add("acme")
    settled = (await post_payment(client, "acme", payment_request(loan_id))).json()
    await await_until(lambda: _is(settled["id"], "settled"), timeout=10, message="payment settled")
    headers = {**bearer("acme", "collector"), "Idempotency-Key": "ret-1"}
    url = f"/api/v1/payments/{settled['id']}/return"
    first = await client.post(url, json={"reason": "NSF"}, headers=headers)
    # when it is sent again, and then under the same key with another reason
    again = await client.post(url, json={"reason": "NSF"}, headers=headers)
    other = await client.post(url, json={"reason": "R02 account closed"}, headers=headers)
    # then the repeat is the first answer, marked as a replay; another body is a 409; one reversal command
    assert first.status_code == again.status_code == 200, first.text
    assert again.content == first.content and again.headers["Idempotent-Replayed"] == "true"
    assert first.json()["status"] == "returned"
    assert other.status_code == 409 and other.json()["type"].endswith("/idempotency_key_reused")
    [command] = await outbox("ledger.reverse_payment")
    assert command.body["args"] == [settled["id"], "NSF"]


async def test_processor_down_leaves_the_payment_pending_and_the_sweep_charges_it_later(
        client, loans_api, processor, payments_http, settings, unreachable_url):
    # given the processor is unreachable
    settings.LENDSIMPLE_PROCESSOR_URL = unreachable_url
    loan_id = loans_api.add("acme")
    # when a payment is posted
    response = await post_payment(client, "acme", payment_request(loan_id))
    # then it is still accepted, pending, with the failed attempt and a retry time recorded
    assert response.status_code == 201
    payment_id = response.json()["id"]
    row = await payment_row(payment_id)
    assert row.status == "pending" and row.charge_attempts == 1 and row.processor_reference == ""
    assert row.next_charge_at > timezone.now() and "ConnectError" in row.last_charge_error
    # and a sweep while it is still down only records another attempt
    await _make_due(payment_id)
    assert await charge_due_payments() == 0
    assert (await payment_row(payment_id)).charge_attempts == 2
    # when the processor is back and the sweep runs
    settings.LENDSIMPLE_PROCESSOR_URL = processor.url
    await _make_due(payment_id)
    assert await charge_due_payments() == 1
    # then the payment is charged once and settles
    await await_until(lambda: _is(payment_id, "settled"), timeout=10, message="payment settled")
    assert len(processor.charges(payment_id)) == 1
    assert len(await outbox("ledger.allocate_payment")) == 1


async def test_a_slow_processor_times_out_the_request_not_the_payment(client, loans_api, processor, payments_http,
                                                                      settings):
    # given a processor slower to answer than we wait
    settings.LENDSIMPLE_PROCESSOR_TIMEOUT = 0.2
    processor.control("/control/behaviour", {"answer_delay_seconds": 1.0, "delay_seconds": 1.2})
    loan_id = loans_api.add("acme")
    # when a payment is posted
    response = await post_payment(client, "acme", payment_request(loan_id))
    # then it is accepted and pending, with the attempt recorded for a retry
    assert response.status_code == 201
    payment_id = response.json()["id"]
    row = await payment_row(payment_id)
    assert row.status == "pending" and row.charge_attempts == 1 and "Timeout" in row.last_charge_error
    # and when the sweep asks again, the processor knows the charge: still exactly one, and it settles
    settings.LENDSIMPLE_PROCESSOR_TIMEOUT = 3.0
    await _make_due(payment_id)
    assert await charge_due_payments() == 1
    await await_until(lambda: _is(payment_id, "settled"), timeout=10, message="payment settled")
    assert len(processor.charges(payment_id)) == 1


async def test_the_sweep_does_not_ask_again_for_payments_already_charged(client, loans_api, processor,
                                                                         payments_http):
    processor.control("/control/behaviour", {"outcome": "hold"})
    loan_id = loans_api.add("acme")
    created = (await post_payment(client, "acme", payment_request(loan_id))).json()
    await _make_due(created["id"])
    assert await charge_due_payments() == 0
    assert len(processor.charges(created["id"])) == 1


@sync_to_async
def _make_due(payment_id) -> None:
    Payment.all_tenants.filter(pk=payment_id).update(next_charge_at=timezone.now() - timedelta(seconds=1))
