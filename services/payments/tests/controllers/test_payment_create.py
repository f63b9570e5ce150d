"""POST /api/v1/payments: validation against the loan, idempotency, nothing stored on refusal."""

import asyncio
import uuid

import pytest

from tests.factories import outbox, payment_request, post_payment, stored_counts

pytestmark = pytest.mark.django_db(transaction=True)


async def test_records_a_pending_payment_with_its_received_event(asgi_client, loans_api, processor, payments_http):
    # given an active USD loan of tenant acme
    loan_id = loans_api.add("acme")
    # when a collector posts a payment
    async with asgi_client as client:
        response = await post_payment(client, "acme", payment_request(loan_id, amount="250.5"))
    # then it is recorded pending, amounts as strings in the currency's minor units
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"id", "loan_id", "amount", "currency", "method", "value_date", "status", "allocation",
                         "created_at", "updated_at"}
    assert body["amount"] == "250.50" and body["status"] == "pending" and body["allocation"] is None
    assert body["loan_id"] == str(loan_id) and body["value_date"] == "2025-02-01" and body["method"] == "ach"
    # and the loan was checked over REST with a service token for the tenant
    assert loans_api.calls == [("acme", str(loan_id))]
    [event] = await outbox("payments.payment.received.v1")
    assert event.tenant_id == "acme" and event.body["payload"]["payment_id"] == body["id"]
    assert event.body["payload"]["amount"] == "250.50"


async def test_same_key_same_body_returns_the_first_response_and_creates_nothing(asgi_client, loans_api, processor,
                                                                                 payments_http):
    # given a payment posted with a key
    loan_id = loans_api.add("acme")
    async with asgi_client as client:
        first = await post_payment(client, "acme", payment_request(loan_id), key="key-1")
        # when the same request is sent again (with keys in another order)
        body = dict(reversed(list(payment_request(loan_id).items())))
        again = await post_payment(client, "acme", body, key="key-1")
    # then the same status and body come back, and there is still one payment
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (await stored_counts())["payments"] == 1


async def test_a_repeat_gets_the_first_answer_even_when_the_loan_check_would_now_fail(
        asgi_client, loans_api, processor, payments_http, settings, unreachable_url):
    # given a payment recorded under a key
    loan_id = loans_api.add("acme")
    async with asgi_client as client:
        first = await post_payment(client, "acme", payment_request(loan_id), key="paid-it-off")
        # when the loan has since been paid off (by that payment, say) and the client retries
        loans_api.loans[("acme", str(loan_id))]["status"] = "paid_off"
        again = await post_payment(client, "acme", payment_request(loan_id), key="paid-it-off")
        # or the loans service is unreachable when it retries
        settings.LENDSIMPLE_LOANS_URL = unreachable_url
        down = await post_payment(client, "acme", payment_request(loan_id), key="paid-it-off")
        # and another body under the key is still a conflict, not the loan's 422
        other = await post_payment(client, "acme", payment_request(loan_id, amount="1.00"), key="paid-it-off")
    # then the retries replay the first answer, and nothing more is stored
    assert first.status_code == again.status_code == down.status_code == 201
    assert again.json() == down.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == down.headers["Idempotent-Replayed"] == "true"
    assert other.status_code == 409 and other.json()["type"].endswith("idempotency_key_reused")
    assert (await stored_counts())["payments"] == 1


async def test_same_key_different_body_is_a_conflict(asgi_client, loans_api, processor, payments_http):
    # given a payment posted with a key
    loan_id = loans_api.add("acme")
    async with asgi_client as client:
        await post_payment(client, "acme", payment_request(loan_id), key="key-2")
        # when the key is reused for another amount
        response = await post_payment(client, "acme", payment_request(loan_id, amount="251.00"), key="key-2")
    # then 409 problem and no second payment
    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("idempotency_key_reused")
    assert (await stored_counts())["payments"] == 1


async def test_the_same_key_in_another_tenant_is_another_payment(asgi_client, loans_api, processor, payments_http):
    # given two tenants with a loan each
    acme_loan, globex_loan = loans_api.add("acme"), loans_api.add("globex")
    async with asgi_client as client:
        # when both use the key "k"
        a = await post_payment(client, "acme", payment_request(acme_loan), key="k")
        b = await post_payment(client, "globex", payment_request(globex_loan), key="k")
    # then each gets its own payment
    assert a.status_code == b.status_code == 201 and a.json()["id"] != b.json()["id"]


async def test_twenty_concurrent_posts_with_one_key_make_one_payment_and_twenty_identical_answers(
        asgi_client, loans_api, processor, payments_http):
    # given a loan
    loan_id = loans_api.add("acme")
    body = payment_request(loan_id)
    # when 20 identical requests with one key race
    async with asgi_client as client:
        responses = await asyncio.gather(*(post_payment(client, "acme", body, key="race") for _ in range(20)))
    # then one payment exists and all 20 answers are the first one's
    assert {r.status_code for r in responses} == {201}
    assert len({r.text for r in responses}) == 1
    counts = await stored_counts()
    assert counts["payments"] == 1 and counts["keys"] == 1
    assert len(await outbox("payments.payment.received.v1")) == 1


async def test_without_idempotency_key_every_request_is_a_new_payment(asgi_client, loans_api):
    # given a loan, when the same body is posted twice with no Idempotency-Key
    loan_id = loans_api.add("acme")
    async with asgi_client as client:
        from common.testing import bearer

        first = await client.post("/api/v1/payments", json=payment_request(loan_id), headers=bearer("acme", "collector"))
        second = await client.post("/api/v1/payments", json=payment_request(loan_id), headers=bearer("acme", "collector"))
    # then both are recorded: without a key there is nothing to deduplicate on
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]
    assert (await stored_counts())["payments"] == 2


async def test_an_empty_idempotency_key_is_refused(asgi_client, loans_api):
    loan_id = loans_api.add("acme")
    async with asgi_client as client:
        from common.testing import bearer

        response = await client.post("/api/v1/payments", json=payment_request(loan_id),
                                     headers={**bearer("acme", "collector"), "Idempotency-Key": " "})
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    assert (await stored_counts())["payments"] == 0


@pytest.mark.parametrize("overrides, field", [
    ({"amount": "-5.00"}, "amount"),
    ({"amount": "0"}, "amount"),
    ({"amount": "0.00"}, "amount"),
    ({"amount": "10.001"}, "amount"),
    ({"amount": 10.5}, "amount"),
    ({"amount": 10}, "amount"),
    ({"amount": "1e3"}, "amount"),
    ({"amount": "abc"}, "amount"),
    ({"currency": "XYZ"}, "currency"),
    ({"currency": "usd"}, "currency"),
    ({"method": "bitcoin"}, "method"),
    ({"value_date": "2025-02-30"}, "value_date"),
    ({"value_date": 1738368000}, "value_date"),
    ({"loan_id": "not-a-uuid"}, "loan_id"),
])
async def test_bad_input_is_422_and_nothing_is_stored(asgi_client, loans_api, overrides, field):
    # given a loan
    loan_id = loans_api.add("acme")
    # when a payment with one bad field is posted
    async with asgi_client as client:
        response = await post_payment(client, "acme", payment_request(loan_id, **overrides))
    # then 422 problem naming the field, and nothing is stored
    assert response.status_code == 422, response.text
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert any(field in [str(p) for p in e["loc"]] for e in problem["errors"]), problem
    assert await stored_counts() == {"payments": 0, "keys": 0, "outbox": 0}


async def test_three_decimals_are_fine_for_a_three_decimal_currency(asgi_client, loans_api, processor, payments_http):
    loan_id = loans_api.add("acme", currency="KWD")
    async with asgi_client as client:
        response = await post_payment(client, "acme", payment_request(loan_id, amount="10.125", currency="KWD"))
    assert response.status_code == 201, response.text
    assert response.json()["amount"] == "10.125"


@pytest.mark.parametrize("loan, overrides, code", [
    (None, {}, "loan_not_found"),
    ({"status": "pending"}, {}, "loan_not_payable"),
    ({"status": "paid_off"}, {}, "loan_not_payable"),
    ({"currency": "EUR"}, {}, "currency_mismatch"),
    ({}, {"value_date": "2024-12-31"}, "value_date_before_disbursement"),
])
async def test_a_loan_that_cannot_take_the_payment_is_422_and_nothing_is_stored(asgi_client, loans_api, loan,
                                                                                overrides, code):
    # given a missing loan, or one that is not payable / in another currency / disbursed later
    loan_id = uuid.uuid4() if loan is None else loans_api.add("acme", **loan)
    # when a payment is posted for it
    async with asgi_client as client:
        response = await post_payment(client, "acme", payment_request(loan_id, **overrides), key="k")
    # then 422 with the reason, and nothing stored (the key is free again)
    assert response.status_code == 422, response.text
    assert response.json()["type"].endswith(code)
    assert await stored_counts() == {"payments": 0, "keys": 0, "outbox": 0}


@pytest.mark.parametrize("status", ["active", "defaulted", "charged_off", "written_off"])
async def test_a_disbursed_loan_not_paid_off_takes_payments_collections_and_recoveries_included(asgi_client,
                                                                                               loans_api, status):
    loan_id = loans_api.add("acme", status=status)
    async with asgi_client as client:
        response = await post_payment(client, "acme", payment_request(loan_id))
    assert response.status_code == 201, response.text


async def test_another_tenants_loan_is_not_found(asgi_client, loans_api):
    loan_id = loans_api.add("globex")
    async with asgi_client as client:
        response = await post_payment(client, "acme", payment_request(loan_id))
    assert response.status_code == 422 and response.json()["type"].endswith("loan_not_found")


async def test_loans_service_down_is_503_nothing_stored_and_the_key_can_be_retried(
        asgi_client, loans_api, processor, payments_http, settings, unreachable_url):
    # given the loans service is unreachable
    loan_id = loans_api.add("acme")
    settings.LENDSIMPLE_LOANS_URL = unreachable_url
    async with asgi_client as client:
        # when a payment is posted
        down = await post_payment(client, "acme", payment_request(loan_id), key="retry-me")
        # then 503 problem and nothing stored
        assert down.status_code == 503 and down.json()["status"] == 503
        assert await stored_counts() == {"payments": 0, "keys": 0, "outbox": 0}
        # and once loans answers again the same key goes through
        settings.LENDSIMPLE_LOANS_URL = loans_api.url
        up = await post_payment(client, "acme", payment_request(loan_id), key="retry-me")
    assert up.status_code == 201


@pytest.mark.parametrize("headers, status", [({}, 401), ({"Authorization": "Bearer nope"}, 401)])
async def test_requires_a_token(asgi_client, headers, status):
    async with asgi_client as client:
        response = await client.post("/api/v1/payments", json={}, headers={**headers, "Idempotency-Key": "x"})
    assert response.status_code == status


async def test_viewers_may_not_record_payments(asgi_client, loans_api):
    loan_id = loans_api.add("acme")
    async with asgi_client as client:
        response = await post_payment(client, "acme", payment_request(loan_id), roles=("viewer",))
    assert response.status_code == 403
    assert await stored_counts() == {"payments": 0, "keys": 0, "outbox": 0}
