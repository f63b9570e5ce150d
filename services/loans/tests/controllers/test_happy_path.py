import pytest

from tests.api import API, DISBURSE, create_loan, create_product, transition
from tests.conftest import ORACLES

pytestmark = pytest.mark.django_db(transaction=True)


async def test_product_loan_approve_disburse_schedule_and_payoff_walk_the_contract(asgi_client, admin, borrower_id):
    # given a product with oracle A's terms and a borrower the borrowers service knows
    async with asgi_client as client:
        product = await create_product(client, admin)

        # when a loan is applied for, approved and disbursed
        loan = await create_loan(client, admin, borrower_id=borrower_id, product_id=product["id"])
        approved = await transition(client, admin, loan["id"], "approve")
        disbursed = await transition(client, admin, loan["id"], "disburse", DISBURSE)
        schedule = await client.get(f"{API}/loans/{loan['id']}/schedule", headers=admin)
        quote = await client.get(f"{API}/loans/{loan['id']}/payoff-quote?as_of=2024-02-15", headers=admin)
        fetched = await client.get(f"{API}/loans/{loan['id']}", headers=admin)

    # then every step answers as API.md says, and the schedule is oracle A exactly
    assert loan["status"] == "pending" and loan["principal"] == "10000.00" and loan["currency"] == "USD"
    assert loan["balances"] == {"principal": "0.00", "interest": "0.00", "fees": "0.00", "total": "0.00"}
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert disbursed.status_code == 200, disbursed.text
    body = disbursed.json()
    assert body["status"] == "active" and body["disbursement_date"] == "2024-01-15"
    assert body["first_payment_date"] == "2024-02-15"
    assert body["balances"]["principal"] == "10000.00" and body["days_past_due"] == 0
    expected = ORACLES[0]["expected"]
    assert body["schedule"] == expected
    assert schedule.status_code == 200 and schedule.json() == expected
    # a month of 30/360 interest at 12% on 10000.00 is exactly installment 1's interest
    assert quote.status_code == 200, quote.text
    assert quote.json() == {"as_of": "2024-02-15", "principal": "10000.00", "interest": "100.00", "fees": "0.00",
                            "total": "10100.00"}
    assert fetched.json()["status"] == "active"
    assert set(fetched.json()) >= {"id", "borrower_id", "product_id", "status", "principal", "currency", "term",
                                   "annual_rate", "disbursement_date", "first_payment_date", "balances",
                                   "days_past_due", "created_at", "updated_at"}
