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


async def test_everyone_but_an_admin_sees_and_acts_only_on_the_loans_they_hold_a_grant_on(client, loans_api,
                                                                                          quiet_processor):
    """API.md: admins see every object of the tenant, everyone else the loans they hold a grant on — a payment is the
    loan's, so a collector or viewer without a grant on its loan can neither record, read, list nor return it."""
    # given a payment on a loan granted to "tester" and one on a loan granted to no one
    mine, other = loans_api.add("acme"), loans_api.add("acme", granted=())
    paid = (await post_payment(client, "acme", payment_request(mine))).json()
    admin_paid = (await post_payment(client, "acme", payment_request(other), roles=("admin",))).json()
    collector, viewer = bearer("acme", "collector"), bearer("acme", "viewer")
    # when "tester" (collector, viewer) acts on the loan it holds no grant on
    recorded = await post_payment(client, "acme", payment_request(other))
    read = await client.get(f"/api/v1/payments/{admin_paid['id']}", headers=viewer)
    returned = await client.post(f"/api/v1/payments/{admin_paid['id']}/return", json={"reason": "R01"},
                                 headers=collector)
    listed = (await client.get("/api/v1/payments", headers=viewer)).json()
    listed_other = (await client.get(f"/api/v1/payments?loan_id={other}", headers=viewer)).json()
    admin_listed = (await client.get("/api/v1/payments", headers=bearer("acme", "admin"))).json()
    # then the loan does not exist for it (422 on a payment, 404 on the other's payment), its lists hold only the
    # payments of its own loans; an admin still sees both
    assert recorded.status_code == 422 and recorded.json()["type"].endswith("/loan_not_found"), recorded.text
    assert (read.status_code, returned.status_code) == (404, 404)
    assert [p["id"] for p in listed["items"]] == [paid["id"]] and listed["count"] == 1
    assert listed_other == {"items": [], "count": 0}
    assert {p["id"] for p in admin_listed["items"]} == {paid["id"], admin_paid["id"]}
