import uuid

import pytest
from asgiref.sync import sync_to_async
from common.testing import bearer
from loans.models import Loan

from tests.api import API, count_rows, create_product, outbox

pytestmark = pytest.mark.django_db(transaction=True)


async def _apply(client, headers, product_id, borrower_id, principal="10000.00", term=12):
    return await client.post(f"{API}/loans", headers=headers, json={
        "borrower_id": borrower_id, "product_id": product_id, "principal": principal, "term": term})


async def test_a_loan_for_a_known_borrower_is_pending_and_announced(asgi_client, admin, officer, tenant,
                                                                    borrower_id):
    # given a product and a borrower known to the borrowers service in this tenant
    async with asgi_client as client:
        product = await create_product(client, admin)
        # when a loan officer applies
        response = await _apply(client, officer, product["id"], borrower_id)
        # then the officer (creator) can read it
        mine = await client.get(f"{API}/loans/{response.json()['id']}", headers=officer)

    assert response.status_code == 201, response.text
    loan = response.json()
    assert loan["status"] == "pending" and loan["borrower_id"] == borrower_id and loan["term"] == 12
    assert loan["annual_rate"] == "0.12" and loan["disbursement_date"] is None and loan["days_past_due"] == 0
    assert mine.status_code == 200
    events = await sync_to_async(outbox)(tenant, "loans.loan.created.v1")
    assert [e["body"]["payload"]["loan_id"] for e in events] == [loan["id"]]
    assert events[0]["body"]["payload"]["principal"] == "10000.00"


async def test_an_unknown_borrower_is_a_422_and_nothing_is_stored(asgi_client, admin, tenant, borrowers_service):
    async with asgi_client as client:
        product = await create_product(client, admin)
        response = await _apply(client, admin, product["id"], str(uuid.uuid4()))
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"][-1] == "borrower_id"
    assert await sync_to_async(count_rows)(Loan, tenant) == 0
    assert await sync_to_async(outbox)(tenant, "loans.loan.created.v1") == []


async def test_another_tenants_borrower_is_a_422(asgi_client, admin, tenant, borrowers_service):
    # given a borrower that exists, but in another tenant
    foreign = uuid.uuid4()
    borrowers_service.add("someone-else", foreign)
    async with asgi_client as client:
        product = await create_product(client, admin)
        response = await _apply(client, admin, product["id"], str(foreign))
    assert response.status_code == 422
    assert await sync_to_async(count_rows)(Loan, tenant) == 0


async def test_borrowers_service_down_is_a_503_and_nothing_is_stored(asgi_client, admin, tenant, borrower_id,
                                                                     borrowers_down):
    async with asgi_client as client:
        product = await create_product(client, admin)
        response = await _apply(client, admin, product["id"], borrower_id)
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    assert await sync_to_async(count_rows)(Loan, tenant) == 0


async def test_borrowers_service_failing_is_retried_a_bounded_number_of_times(asgi_client, admin, tenant,
                                                                              borrower_id, borrowers_service):
    # given a borrowers service that answers 503
    async with asgi_client as client:
        product = await create_product(client, admin)
        borrowers_service.failing, before = True, borrowers_service.calls
        response = await _apply(client, admin, product["id"], borrower_id)
    # then the loans service tried 3 times, then answered 503 and stored nothing
    assert response.status_code == 503
    assert borrowers_service.calls - before == 3
    assert await sync_to_async(count_rows)(Loan, tenant) == 0


@pytest.mark.parametrize("principal,term", [
    ("0", 12), ("-5.00", 12), ("100.001", 12), ("1e4", 12), (10000, 12), ("10000.00", 0), ("10000.00", 361),
])
async def test_bad_amount_or_term_is_a_422_and_nothing_is_stored(asgi_client, admin, tenant, borrower_id,
                                                                 principal, term):
    async with asgi_client as client:
        product = await create_product(client, admin)
        response = await _apply(client, admin, product["id"], borrower_id, principal=principal, term=term)
    assert response.status_code == 422, response.text
    assert await sync_to_async(count_rows)(Loan, tenant) == 0


async def test_an_unknown_product_is_a_422(asgi_client, admin, tenant, borrower_id):
    async with asgi_client as client:
        response = await _apply(client, admin, str(uuid.uuid4()), borrower_id)
    assert response.status_code == 422
    assert await sync_to_async(count_rows)(Loan, tenant) == 0


async def test_viewers_and_collectors_cannot_apply(asgi_client, admin, tenant, borrower_id):
    async with asgi_client as client:
        product = await create_product(client, admin)
        for role in ("viewer", "collector"):
            response = await _apply(client, bearer(tenant, role), product["id"], borrower_id)
            assert response.status_code == 403, role
    assert await sync_to_async(count_rows)(Loan, tenant) == 0
