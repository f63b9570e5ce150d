import asyncio

import pytest
from asgiref.sync import sync_to_async
from common.testing import bearer

from tests.api import (
    API,
    DISBURSE,
    active_loan,
    create_loan,
    create_product,
    delinquency,
    deliver,
    outbox,
    transition,
)

pytestmark = pytest.mark.django_db(transaction=True)

ACTIONS = {
    "approve": {}, "deny": {"reason": "income not verified"}, "cancel": {}, "disburse": DISBURSE,
    "charge-off": {"as_of": "2024-09-01"}, "write-off": {"as_of": "2024-12-01"},
}
LEGAL = {
    "pending": {"approve", "deny", "cancel"},
    "approved": {"cancel", "disburse"},
    "denied": set(), "cancelled": set(),
    "active": set(),
    "defaulted": {"charge-off"},
    "charged_off": {"write-off"},
    "written_off": set(),
}


async def _loan_in(client, admin, tenant, borrower_id, status: str) -> dict:
    """A loan brought to ``status`` through the API (and the ledger's delinquency event for defaulted)."""
    product = await create_product(client, admin)
    loan = await create_loan(client, admin, borrower_id=borrower_id, product_id=product["id"])
    path = {"pending": [], "approved": ["approve"], "denied": ["deny"], "cancelled": ["cancel"],
            "active": ["approve", "disburse"], "defaulted": ["approve", "disburse"],
            "charged_off": ["approve", "disburse", "charge-off"],
            "written_off": ["approve", "disburse", "charge-off", "write-off"]}[status]
    for action in path:
        if action == "charge-off":
            await sync_to_async(deliver)(tenant, "ledger.loan.delinquency_changed.v1", delinquency(loan["id"], 1, 91))
        response = await transition(client, admin, loan["id"], action, ACTIONS[action])
        assert response.status_code == 200, (action, response.text)
    if status == "defaulted":
        await sync_to_async(deliver)(tenant, "ledger.loan.delinquency_changed.v1", delinquency(loan["id"], 1, 91))
    current = (await client.get(f"{API}/loans/{loan['id']}", headers=admin)).json()
    assert current["status"] == status
    return current


@pytest.mark.parametrize("status", list(LEGAL))
async def test_every_illegal_transition_is_a_409_and_changes_nothing(asgi_client, admin, tenant, borrower_id,
                                                                     status):
    # given a loan in ``status``
    async with asgi_client as client:
        loan = await _loan_in(client, admin, tenant, borrower_id, status)
        events_before = len(await sync_to_async(outbox)(tenant))
        # when every action that is not legal from there is tried
        for action in sorted(set(ACTIONS) - LEGAL[status]):
            response = await transition(client, admin, loan["id"], action, ACTIONS[action])
            # then each is a 409 problem
            assert response.status_code == 409, (status, action, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
        after = (await client.get(f"{API}/loans/{loan['id']}", headers=admin)).json()
    # and the loan and the outbox are unchanged
    assert after["status"] == status and after["updated_at"] == loan["updated_at"]
    assert len(await sync_to_async(outbox)(tenant)) == events_before


async def test_approve_records_who_and_when_and_announces_it(asgi_client, admin, officer, tenant, borrower_id):
    async with asgi_client as client:
        product = await create_product(client, admin)
        loan = await create_loan(client, officer, borrower_id=borrower_id, product_id=product["id"])
        response = await transition(client, officer, loan["id"], "approve")
    body = response.json()
    assert body["status"] == "approved" and body["approved_by"] == "oscar-officer" and body["approved_at"]
    [event] = await sync_to_async(outbox)(tenant, "loans.loan.approved.v1")
    assert event["body"]["payload"]["approved_by"] == "oscar-officer"


async def test_deny_records_the_reason_and_needs_one(asgi_client, admin, tenant, borrower_id):
    async with asgi_client as client:
        product = await create_product(client, admin)
        loan = await create_loan(client, admin, borrower_id=borrower_id, product_id=product["id"])
        without = await transition(client, admin, loan["id"], "deny", {})
        nul = await transition(client, admin, loan["id"], "deny", {"reason": "income\x00not verified"})
        denied = await transition(client, admin, loan["id"], "deny", {"reason": "income not verified"})
    assert without.status_code == 422
    # a reason PostgreSQL cannot store is a validation problem like any other: 422 with its errors list
    assert nul.status_code == 422 and nul.json()["errors"] and nul.json()["type"].endswith("/validation_error")
    assert denied.json()["status"] == "denied" and denied.json()["denial_reason"] == "income not verified"
    [event] = await sync_to_async(outbox)(tenant, "loans.loan.denied.v1")
    assert event["body"]["payload"]["reason"] == "income not verified"


async def test_cancel_from_pending_and_from_approved(asgi_client, admin, tenant, borrower_id):
    async with asgi_client as client:
        product = await create_product(client, admin)
        first = await create_loan(client, admin, borrower_id=borrower_id, product_id=product["id"])
        second = await create_loan(client, admin, borrower_id=borrower_id, product_id=product["id"])
        await transition(client, admin, second["id"], "approve")
        a = await transition(client, admin, first["id"], "cancel")
        b = await transition(client, admin, second["id"], "cancel")
    assert a.json()["status"] == b.json()["status"] == "cancelled"
    assert len(await sync_to_async(outbox)(tenant, "loans.loan.cancelled.v1")) == 2


async def test_disburse_posts_terms_schedule_and_rules_to_the_ledger_in_one_event(asgi_client, admin, tenant,
                                                                                   borrower_id):
    # given a product with a 1.5% origination fee, a late fee and an NSF fee
    async with asgi_client as client:
        product, loan = await active_loan(client, admin, borrower_id=borrower_id,
                                          origination_fee={"type": "percent", "value": "1.5"},
                                          late_fee={"amount": "15.00", "grace_days": 10}, nsf_fee="25.00",
                                          arrears_tolerance="0.50")
    # then the fee is 1.5% of 10000.00, due with installment 1, and the event carries everything
    assert loan["origination_fee"] == "150.00"
    assert loan["schedule"]["installments"][0]["fees"] == "150.00"
    assert loan["balances"] == {"principal": "10000.00", "interest": "0.00", "fees": "150.00", "total": "10150.00"}
    [event] = await sync_to_async(outbox)(tenant, "loans.loan.disbursed.v1")
    payload = event["body"]["payload"]
    assert payload["loan_id"] == loan["id"] and payload["status"] == "active"
    assert payload["schedule"] == loan["schedule"]
    assert payload["terms"]["principal"] == "10000.00" and payload["terms"]["fees"] == "150.00"
    assert payload["terms"]["first_payment_date"] == "2024-02-15"
    assert (payload["origination_fee"], payload["late_fee"], payload["grace_days"], payload["nsf_fee"]) == (
        "150.00", "15.00", 10, "25.00")
    assert payload["default_after_days"] == 90 and payload["non_accrual_after_days"] == 90
    assert payload["allocation_order"] == ["fees", "interest", "principal"]
    assert payload["arrears_tolerance"] == "0.50"


async def test_disburse_defaults_the_first_payment_to_one_period_later(asgi_client, admin, borrower_id):
    async with asgi_client as client:
        product = await create_product(client, admin)
        loan = await create_loan(client, admin, borrower_id=borrower_id, product_id=product["id"])
        await transition(client, admin, loan["id"], "approve")
        bad = await transition(client, admin, loan["id"], "disburse",
                               {"disbursement_date": "2024-01-31", "first_payment_date": "2024-01-31"})
        ok = await transition(client, admin, loan["id"], "disburse", {"disbursement_date": "2024-01-31"})
    assert bad.status_code == 422
    assert ok.json()["first_payment_date"] == "2024-02-29"  # clamped to the month's last day
    assert ok.json()["schedule"]["installments"][0]["due_date"] == "2024-02-29"


async def test_charge_off_and_write_off_are_admin_actions_that_reach_the_ledger(asgi_client, admin, officer,
                                                                                tenant, borrower_id):
    async with asgi_client as client:
        loan = await _loan_in(client, admin, tenant, borrower_id, "defaulted")
        by_officer = await transition(client, officer, loan["id"], "charge-off", {})
        charged = await transition(client, admin, loan["id"], "charge-off", {"as_of": "2024-09-01"})
        written = await transition(client, admin, loan["id"], "write-off", {"as_of": "2024-12-01"})
    assert by_officer.status_code == 403
    assert charged.json()["status"] == "charged_off" and written.json()["status"] == "written_off"
    commands = [(m["name"], m["body"]["args"]) for m in await sync_to_async(outbox)(tenant) if m["kind"] == "command"]
    assert commands == [("ledger.charge_off", [loan["id"], "2024-09-01"]),
                        ("ledger.write_off", [loan["id"], "2024-12-01"])]
    assert len(await sync_to_async(outbox)(tenant, "loans.loan.charged_off.v1")) == 1
    assert len(await sync_to_async(outbox)(tenant, "loans.loan.written_off.v1")) == 1


async def test_concurrent_approvals_one_wins_the_others_get_409(asgi_client, admin, tenant, borrower_id):
    # given a pending loan
    async with asgi_client as client:
        product = await create_product(client, admin)
        loan = await create_loan(client, admin, borrower_id=borrower_id, product_id=product["id"])
        # when five approvals race (each runs its transaction on its own thread and connection)
        responses = await asyncio.gather(*[transition(client, admin, loan["id"], "approve") for _ in range(5)])
    # then exactly one wins and one approval event exists
    assert sorted(r.status_code for r in responses) == [200, 409, 409, 409, 409]
    assert len(await sync_to_async(outbox)(tenant, "loans.loan.approved.v1")) == 1


async def test_concurrent_approve_and_deny_never_both_succeed(asgi_client, admin, tenant, borrower_id):
    async with asgi_client as client:
        product = await create_product(client, admin)
        loan = await create_loan(client, admin, borrower_id=borrower_id, product_id=product["id"])
        approve, deny = await asyncio.gather(transition(client, admin, loan["id"], "approve"),
                                             transition(client, admin, loan["id"], "deny", {"reason": "x"}))
        final = (await client.get(f"{API}/loans/{loan['id']}", headers=admin)).json()["status"]
    assert sorted([approve.status_code, deny.status_code]) == [200, 409]
    assert final == ("approved" if approve.status_code == 200 else "denied")


async def test_four_eyes_the_creator_may_not_approve(asgi_client, admin, tenant, borrower_id):
    # given a four-eyes product and a loan created by one officer
    creator = bearer(tenant, "loan_officer", sub="carol")
    async with asgi_client as client:
        product = await create_product(client, admin, four_eyes=True)
        loan = await create_loan(client, creator, borrower_id=borrower_id, product_id=product["id"])
        # when the creator approves, then 403; when an admin (another person) approves, then 200
        own = await transition(client, creator, loan["id"], "approve")
        other = await transition(client, admin, loan["id"], "approve")
    assert own.status_code == 403
    assert other.status_code == 200 and other.json()["approved_by"] == "alice-admin"
