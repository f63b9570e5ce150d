"""GET /api/v1/payments/{id} and the list: tenant-scoped, filters, pagination."""

import uuid

import pytest
from common.testing import bearer

from tests.factories import payment_request, post_payment

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def quiet_processor(processor, payments_http):
    processor.control("/control/behaviour", {"outcome": "hold"})   # payments stay pending
    return processor


async def test_get_returns_the_payment_and_another_tenant_gets_404(client, loans_api, quiet_processor):
    # given a payment of acme
    loan_id = loans_api.add("acme")
    created = (await post_payment(client, "acme", payment_request(loan_id))).json()
    # when acme's viewer and globex's admin ask for it
    mine = await client.get(f"/api/v1/payments/{created['id']}", headers=bearer("acme", "viewer"))
    theirs = await client.get(f"/api/v1/payments/{created['id']}", headers=bearer("globex", "admin"))
    unknown = await client.get(f"/api/v1/payments/{uuid.uuid4()}", headers=bearer("acme", "viewer"))
    # then acme sees it, globex gets a 404 problem (never a 403, never the object)
    assert mine.status_code == 200
    assert {k: v for k, v in mine.json().items() if k != "updated_at"} == {k: v for k, v in created.items() if k != "updated_at"}
    assert theirs.status_code == 404 and theirs.headers["content-type"].startswith("application/problem+json")
    assert unknown.status_code == 404


async def test_list_filters_by_loan_and_status_and_paginates_within_the_tenant(client, loans_api,
                                                                               quiet_processor):
    # given three payments on two acme loans and one of globex
    loan_a, loan_b, loan_g = loans_api.add("acme"), loans_api.add("acme"), loans_api.add("globex")
    for loan in (loan_a, loan_a, loan_b):
        assert (await post_payment(client, "acme", payment_request(loan))).status_code == 201
    assert (await post_payment(client, "globex", payment_request(loan_g))).status_code == 201
    viewer = bearer("acme", "viewer")
    # when listed
    everything = (await client.get("/api/v1/payments", headers=viewer)).json()
    on_a = (await client.get(f"/api/v1/payments?loan_id={loan_a}", headers=viewer)).json()
    page = (await client.get("/api/v1/payments?limit=2&offset=2", headers=viewer)).json()
    settled = (await client.get("/api/v1/payments?status=settled", headers=viewer)).json()
    bad = await client.get("/api/v1/payments?status=bogus", headers=viewer)
    # then only acme's, filtered and paginated, with the total count
    assert everything["count"] == 3 and len(everything["items"]) == 3
    assert on_a["count"] == 2 and {p["loan_id"] for p in on_a["items"]} == {str(loan_a)}
    assert page["count"] == 3 and len(page["items"]) == 1
    assert settled == {"items": [], "count": 0}
    assert bad.status_code == 422
