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
