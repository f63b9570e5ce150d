"""`Idempotency-Key` on the creates (API.md: same key and body → the first response again; same key and
another body → 409): products, loans and accrual runs are created once per key."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from common.testing import bearer
from loans.models import AccrualRun, IdempotencyRecord, Loan, Product

from tests.api import API, count_rows, create_product, outbox
from tests.conftest import product_body

pytestmark = pytest.mark.django_db(transaction=True)


def _keyed(headers: dict, key: str) -> dict:
    return {**headers, "Idempotency-Key": key}


def _loan_request(product_id: str, borrower_id: str, principal: str = "10000.00") -> dict:
    return {"borrower_id": borrower_id, "product_id": product_id, "principal": principal, "term": 12}


# --- products ------------------------------------------------------------------------------------

async def test_a_product_sent_twice_with_one_key_is_created_once_and_answered_alike(asgi_client, admin, tenant):
    async with asgi_client as client:
        # given a product created under a key
        first = await client.post(f"{API}/products", json=product_body(), headers=_keyed(admin, "p-1"))
        # when the same request is sent again
        again = await client.post(f"{API}/products", json=product_body(), headers=_keyed(admin, "p-1"))
        fetched = await client.get(f"{API}/products/{first.json()['id']}", headers=admin)
    # then the same status and bytes, marked as a replay, and one product, as a GET shows it
    assert first.status_code == again.status_code == 201, first.text
    assert again.content == first.content
    assert (first.headers["Idempotent-Replayed"], again.headers["Idempotent-Replayed"]) == ("false", "true")
    assert fetched.json() == first.json()
    assert await sync_to_async(count_rows)(Product, tenant) == 1


async def test_a_key_reused_with_another_body_is_a_409_and_creates_nothing(asgi_client, admin, tenant):
    async with asgi_client as client:
        await client.post(f"{API}/products", json=product_body(), headers=_keyed(admin, "p-1"))
        response = await client.post(f"{API}/products", json=product_body(name="Other"), headers=_keyed(admin, "p-1"))
    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/idempotency_key_reused")
    assert await sync_to_async(count_rows)(Product, tenant) == 1


async def test_a_refused_product_does_not_use_up_its_key(asgi_client, admin, tenant):
    async with asgi_client as client:
        bad = await client.post(f"{API}/products", json=product_body(term_min=30, term_max=12),
                                headers=_keyed(admin, "p-1"))
        good = await client.post(f"{API}/products", json=product_body(), headers=_keyed(admin, "p-1"))
    assert (bad.status_code, good.status_code) == (422, 201)
    assert await sync_to_async(count_rows)(Product, tenant) == 1


@pytest.mark.parametrize("key", ["", "   ", "k" * 256])
async def test_an_empty_or_over_long_key_is_a_422(asgi_client, admin, tenant, key):
    async with asgi_client as client:
        response = await client.post(f"{API}/products", json=product_body(), headers=_keyed(admin, key))
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    assert await sync_to_async(count_rows)(Product, tenant) == 0


async def test_a_key_belongs_to_its_tenant(asgi_client, admin, tenant):
    other = bearer(f"{tenant}-b", "admin")
    async with asgi_client as client:
        mine = await client.post(f"{API}/products", json=product_body(), headers=_keyed(admin, "shared"))
        theirs = await client.post(f"{API}/products", json=product_body(name="B"), headers=_keyed(other, "shared"))
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.json()["id"] != theirs.json()["id"]


# --- loans ---------------------------------------------------------------------------------------

async def test_a_loan_sent_twice_with_one_key_is_one_loan_and_one_event(asgi_client, admin, officer, tenant,
                                                                        borrower_id):
    async with asgi_client as client:
        product = await create_product(client, admin)
        body = _loan_request(product["id"], borrower_id)
        first = await client.post(f"{API}/loans", json=body, headers=_keyed(officer, "l-1"))
        again = await client.post(f"{API}/loans", json=body, headers=_keyed(officer, "l-1"))
        fetched = await client.get(f"{API}/loans/{first.json()['id']}", headers=officer)
    assert first.status_code == again.status_code == 201, first.text
    assert again.content == first.content and again.headers["Idempotent-Replayed"] == "true"
    assert fetched.json() == first.json()
    assert await sync_to_async(count_rows)(Loan, tenant) == 1
    assert len(await sync_to_async(outbox)(tenant, "loans.loan.created.v1")) == 1
    record = await IdempotencyRecord.all_tenants.aget(tenant_id=tenant, key="l-1")
    assert str(record.resource_id) == first.json()["id"] and record.response_status == 201


async def test_a_loan_key_reused_for_another_amount_is_a_409(asgi_client, admin, officer, tenant, borrower_id):
    async with asgi_client as client:
        product = await create_product(client, admin)
        await client.post(f"{API}/loans", json=_loan_request(product["id"], borrower_id), headers=_keyed(officer, "l"))
        response = await client.post(f"{API}/loans", json=_loan_request(product["id"], borrower_id, "9000.00"),
                                     headers=_keyed(officer, "l"))
    assert response.status_code == 409 and response.json()["type"].endswith("/idempotency_key_reused")
    assert await sync_to_async(count_rows)(Loan, tenant) == 1


async def test_concurrent_duplicates_make_one_loan_and_the_same_answer(asgi_client, admin, officer, tenant,
                                                                       borrower_id):
    async with asgi_client as client:
        product = await create_product(client, admin)
        body = _loan_request(product["id"], borrower_id)
        # when ten retries of one application race
        responses = await asyncio.gather(*(client.post(f"{API}/loans", json=body, headers=_keyed(officer, "race"))
                                           for _ in range(10)))
    # then one loan, one event, ten identical 201s
    assert {r.status_code for r in responses} == {201}
    assert {r.content for r in responses} == {responses[0].content}
    assert [r.headers["Idempotent-Replayed"] for r in responses].count("false") == 1
    assert await sync_to_async(count_rows)(Loan, tenant) == 1
    assert len(await sync_to_async(outbox)(tenant, "loans.loan.created.v1")) == 1


async def test_without_a_key_each_application_is_a_new_loan(asgi_client, admin, officer, tenant, borrower_id):
    async with asgi_client as client:
        product = await create_product(client, admin)
        body = _loan_request(product["id"], borrower_id)
        first = await client.post(f"{API}/loans", json=body, headers=officer)
        second = await client.post(f"{API}/loans", json=body, headers=officer)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]
    assert await sync_to_async(count_rows)(Loan, tenant) == 2
    assert await sync_to_async(count_rows)(IdempotencyRecord, tenant) == 0


async def test_a_loan_refused_while_borrowers_is_down_can_be_retried_with_its_key(
        asgi_client, admin, officer, tenant, borrower_id, borrowers_service, settings):
    async with asgi_client as client:
        product = await create_product(client, admin)
        body = _loan_request(product["id"], borrower_id)
        url, settings.LENDSIMPLE_BORROWERS_URL = settings.LENDSIMPLE_BORROWERS_URL, "http://127.0.0.1:9"
        down = await client.post(f"{API}/loans", json=body, headers=_keyed(officer, "retry-me"))
        settings.LENDSIMPLE_BORROWERS_URL = url
        retried = await client.post(f"{API}/loans", json=body, headers=_keyed(officer, "retry-me"))
    assert (down.status_code, retried.status_code) == (503, 201)
    assert retried.headers["Idempotent-Replayed"] == "false"
    assert await sync_to_async(count_rows)(Loan, tenant) == 1


# --- accrual runs --------------------------------------------------------------------------------

async def test_an_accrual_run_with_one_key_is_started_once(asgi_client, admin, tenant):
    async with asgi_client as client:
        first = await client.post(f"{API}/accrual-runs", json={"through": "2024-03-31"}, headers=_keyed(admin, "r"))
        again = await client.post(f"{API}/accrual-runs", json={"through": "2024-03-31"}, headers=_keyed(admin, "r"))
        other = await client.post(f"{API}/accrual-runs", json={"through": "2024-04-30"}, headers=_keyed(admin, "r"))
    assert first.status_code == again.status_code == 202
    assert again.content == first.content and first.json()["status"] == "queued"
    assert other.status_code == 409
    assert await sync_to_async(count_rows)(AccrualRun, tenant) == 1
    assert len(await sync_to_async(outbox)(tenant, "ledger.accrue_portfolio")) == 1


async def test_one_key_on_two_endpoints_is_a_409(asgi_client, admin, tenant):
    async with asgi_client as client:
        await client.post(f"{API}/products", json=product_body(), headers=_keyed(admin, "k"))
        response = await client.post(f"{API}/accrual-runs", json={"through": "2024-03-31"}, headers=_keyed(admin, "k"))
    assert response.status_code == 409
    assert await sync_to_async(count_rows)(AccrualRun, tenant) == 0


# --- lifecycle actions ---------------------------------------------------------------------------

async def test_a_disbursement_retried_with_its_key_gets_the_first_answer_not_a_409(asgi_client, admin, tenant,
                                                                                  borrower_id):
    from tests.api import DISBURSE, create_loan, transition

    async with asgi_client as client:
        # given an approved loan, disbursed under a key
        product = await create_product(client, admin)
        loan = await create_loan(client, admin, borrower_id=borrower_id, product_id=product["id"])
        assert (await transition(client, admin, loan["id"], "approve")).status_code == 200
        url = f"{API}/loans/{loan['id']}/disburse"
        first = await client.post(url, json=DISBURSE, headers=_keyed(admin, "d-1"))
        # when the client, which lost the answer, sends it again; and then under the key with another body
        again = await client.post(url, json=DISBURSE, headers=_keyed(admin, "d-1"))
        other = await client.post(url, json={**DISBURSE, "disbursement_date": "2024-01-16"},
                                  headers=_keyed(admin, "d-1"))
        # and without a key (a new request: the loan is active, so it is refused)
        unkeyed = await client.post(url, json=DISBURSE, headers=admin)
    # then the repeat is the first answer (loan and schedule, byte for byte), marked as a replay
    assert first.status_code == again.status_code == 200, first.text
    assert again.content == first.content and again.headers["Idempotent-Replayed"] == "true"
    assert first.json()["status"] == "active" and first.json()["schedule"]["installments"]
    assert other.status_code == 409 and other.json()["type"].endswith("/idempotency_key_reused")
    assert unkeyed.status_code == 409 and unkeyed.json()["type"].endswith("/illegal_transition")
    # and the ledger was told once
    assert len(await sync_to_async(outbox)(tenant, "loans.loan.disbursed.v1")) == 1


async def test_a_refused_action_does_not_use_up_its_key_and_each_action_has_its_own(asgi_client, admin, tenant,
                                                                                    borrower_id):
    from tests.api import create_loan, transition

    async with asgi_client as client:
        product = await create_product(client, admin)
        loan = await create_loan(client, admin, borrower_id=borrower_id, product_id=product["id"])
        base = f"{API}/loans/{loan['id']}"
        # a charge-off of a pending loan is refused (409) under key k-1
        refused = await client.post(f"{base}/charge-off", json={}, headers=_keyed(admin, "k-1"))
        # the same key then approves it (the refusal released it), and approving again replays
        approved = await client.post(f"{base}/approve", json={}, headers=_keyed(admin, "k-1"))
        replayed = await client.post(f"{base}/approve", json={}, headers=_keyed(admin, "k-1"))
        # a key is bound to its request: the same key on another action is a 409, not that action's answer
        cancel = await client.post(f"{base}/cancel", json={}, headers=_keyed(admin, "k-1"))
        after = await transition(client, admin, loan["id"], "cancel", {"reason": "withdrawn"})
    assert refused.status_code == 409 and refused.json()["type"].endswith("/illegal_transition")
    assert (approved.status_code, replayed.status_code) == (200, 200)
    assert replayed.content == approved.content and approved.json()["status"] == "approved"
    assert cancel.status_code == 409 and cancel.json()["type"].endswith("/idempotency_key_reused")
    assert after.status_code == 200 and after.json()["status"] == "cancelled"
    assert len(await sync_to_async(outbox)(tenant, "loans.loan.approved.v1")) == 1
