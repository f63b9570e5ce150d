import uuid

import pytest
from common.testing import bearer

from tests.api import API, DISBURSE, active_loan, create_loan, create_product, transition

pytestmark = pytest.mark.django_db(transaction=True)

READS = ["", "/schedule", "/payoff-quote?as_of=2024-03-01", "/transactions"]
WRITES = {"approve": {}, "deny": {"reason": "r"}, "cancel": {}, "disburse": DISBURSE,
          "charge-off": {}, "write-off": {}, "assign": {"subject": "x"}}


async def test_another_tenant_gets_404_on_every_loan_endpoint(asgi_client, admin, borrower_id):
    # given an active loan of this tenant and an admin of another tenant
    intruder = bearer("intruder-tenant", "admin", sub="mallory")
    async with asgi_client as client:
        product, loan = await active_loan(client, admin, borrower_id=borrower_id)
        # when the intruder reads, lists, acts on it or uses its product
        reads = [await client.get(f"{API}/loans/{loan['id']}{path}", headers=intruder) for path in READS]
        writes = [await transition(client, intruder, loan["id"], action, body) for action, body in WRITES.items()]
        listed = await client.get(f"{API}/loans", headers=intruder)
        by_borrower = await client.get(f"{API}/loans?borrower_id={borrower_id}", headers=intruder)
        preview = await client.post(f"{API}/schedule-preview", headers=intruder, json={
            "product_id": product["id"], "principal": "100.00", "term": 6, "disbursement_date": "2024-01-15"})
        apply = await client.post(f"{API}/loans", headers=intruder, json={
            "borrower_id": borrower_id, "product_id": product["id"], "principal": "100.00", "term": 6})
        mine = await client.get(f"{API}/loans/{loan['id']}", headers=admin)
    # then every loan endpoint is a 404, lists are empty, the product is unknown (422)
    assert [r.status_code for r in reads] == [404] * len(READS)
    assert [r.status_code for r in writes] == [404] * len(WRITES)
    assert listed.json() == {"items": [], "count": 0} and by_borrower.json()["count"] == 0
    assert preview.status_code == 422 and apply.status_code == 422
    assert mine.json()["status"] == "active"


async def test_without_a_grant_a_loan_is_404_with_an_assignment_it_is_visible(asgi_client, admin, tenant,
                                                                              borrower_id):
    # given a loan created by an admin, and a viewer and an officer without grants
    viewer = bearer(tenant, "viewer", sub="vera")
    officer = bearer(tenant, "loan_officer", sub="otto")
    async with asgi_client as client:
        product = await create_product(client, admin)
        loan = await create_loan(client, admin, borrower_id=borrower_id, product_id=product["id"])
        hidden = await client.get(f"{API}/loans/{loan['id']}", headers=viewer)
        hidden_list = await client.get(f"{API}/loans", headers=viewer)
        officer_approve = await transition(client, officer, loan["id"], "approve")
        # when the admin assigns the loan to the viewer (view only) and the officer (view and change)
        assign_viewer = await client.post(f"{API}/loans/{loan['id']}/assign", headers=admin,
                                          json={"subject": "vera", "perms": ["view"]})
        await client.post(f"{API}/loans/{loan['id']}/assign", headers=admin, json={"subject": "otto"})
        assign_by_officer = await client.post(f"{API}/loans/{loan['id']}/assign", headers=officer,
                                              json={"subject": "otto"})
        seen = await client.get(f"{API}/loans/{loan['id']}", headers=viewer)
        seen_list = await client.get(f"{API}/loans", headers=viewer)
        approved = await transition(client, officer, loan["id"], "approve")
    # then 404 before, visible after; the assignment itself is an admin action
    assert hidden.status_code == 404 and hidden_list.json()["count"] == 0
    assert officer_approve.status_code == 404
    assert assign_viewer.status_code == 200 and assign_by_officer.status_code == 403
    assert seen.status_code == 200 and seen_list.json()["count"] == 1
    assert approved.status_code == 200


async def test_roles_that_may_not_act_get_403(asgi_client, admin, tenant, borrower_id):
    # given a collector and a viewer holding a grant on a pending loan
    async with asgi_client as client:
        product = await create_product(client, admin)
        loan = await create_loan(client, admin, borrower_id=borrower_id, product_id=product["id"])
        results = {}
        for role in ("collector", "viewer"):
            headers = bearer(tenant, role, sub=f"{role}-1")
            await client.post(f"{API}/loans/{loan['id']}/assign", headers=admin, json={"subject": f"{role}-1"})
            results[role] = [(await transition(client, headers, loan["id"], action, body)).status_code
                             for action, body in WRITES.items()]
            results[role + "-read"] = (await client.get(f"{API}/loans/{loan['id']}", headers=headers)).status_code
            results[role + "-run"] = (await client.post(f"{API}/accrual-runs", headers=headers,
                                                        json={"through": "2024-03-01"})).status_code
    # then they read, and every write is a 403
    for role in ("collector", "viewer"):
        assert results[role] == [403] * len(WRITES), role
        assert results[role + "-read"] == 200 and results[role + "-run"] == 403


async def test_a_view_only_grant_cannot_change_the_loan(asgi_client, admin, tenant, borrower_id):
    officer = bearer(tenant, "loan_officer", sub="vic")
    async with asgi_client as client:
        product = await create_product(client, admin)
        loan = await create_loan(client, admin, borrower_id=borrower_id, product_id=product["id"])
        await client.post(f"{API}/loans/{loan['id']}/assign", headers=admin, json={"subject": "vic",
                                                                                    "perms": ["view"]})
        read = await client.get(f"{API}/loans/{loan['id']}", headers=officer)
        approve = await transition(client, officer, loan["id"], "approve")
    assert read.status_code == 200
    assert approve.status_code == 404


async def test_unknown_ids_and_bad_ids(asgi_client, admin):
    async with asgi_client as client:
        missing = await client.get(f"{API}/loans/{uuid.uuid4()}", headers=admin)
        malformed = await client.get(f"{API}/loans/not-a-uuid", headers=admin)
        no_token = await client.get(f"{API}/loans")
    assert missing.status_code == 404 and malformed.status_code == 422 and no_token.status_code == 401
