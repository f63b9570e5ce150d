import pytest

from tests.api import API, create_loan, create_product, transition
from tests.conftest import ORACLES

pytestmark = pytest.mark.django_db(transaction=True)

PRODUCT_FIELDS = ("annual_rate", "frequency", "interest_method", "amortization", "day_count", "rounding")


@pytest.mark.parametrize("case", ORACLES, ids=[c["case"] for c in ORACLES])
async def test_preview_equals_the_oracle_and_the_disbursed_schedule(asgi_client, admin, borrower_id, case):
    # given a product with the oracle case's terms
    request = case["request"]
    async with asgi_client as client:
        product = await create_product(client, admin, **{k: request[k] for k in PRODUCT_FIELDS})
        # when the schedule is previewed, and the same loan is applied for, approved and disbursed
        preview = await client.post(f"{API}/schedule-preview", headers=admin, json={
            "product_id": product["id"], "principal": request["principal"], "term": request["term"],
            "disbursement_date": request["disbursement_date"], "first_payment_date": request["first_payment_date"]})
        loan = await create_loan(client, admin, borrower_id=borrower_id, product_id=product["id"],
                                 principal=request["principal"], term=request["term"])
        await transition(client, admin, loan["id"], "approve")
        disbursed = await transition(client, admin, loan["id"], "disburse", {
            "disbursement_date": request["disbursement_date"], "first_payment_date": request["first_payment_date"]})
        stored = await client.get(f"{API}/loans/{loan['id']}/schedule", headers=admin)
    # then preview, the disbursement's schedule and the stored schedule all equal the oracle
    assert preview.status_code == 200, preview.text
    assert preview.json() == case["expected"]
    assert disbursed.json()["schedule"] == case["expected"]
    assert stored.json() == case["expected"]


async def test_preview_includes_the_origination_fee_in_installment_one(asgi_client, admin):
    async with asgi_client as client:
        product = await create_product(client, admin, origination_fee={"type": "flat", "value": "99.99"})
        preview = await client.post(f"{API}/schedule-preview", headers=admin, json={
            "product_id": product["id"], "principal": "1200.00", "term": 3, "disbursement_date": "2024-01-15"})
    body = preview.json()
    assert [i["fees"] for i in body["installments"]] == ["99.99", "0.00", "0.00"]
    assert body["totals"]["fees"] == "99.99"
    assert [i["due_date"] for i in body["installments"]] == ["2024-02-15", "2024-03-15", "2024-04-15"]


@pytest.mark.parametrize("body", [
    {"principal": "1000.00", "term": 400, "disbursement_date": "2024-01-15"},
    {"principal": "1000.001", "term": 12, "disbursement_date": "2024-01-15"},
    {"principal": "1000.00", "term": 12, "disbursement_date": "2024-01-15", "first_payment_date": "2024-01-10"},
    {"principal": "1000.00", "term": 12, "disbursement_date": "not-a-date"},
])
async def test_a_bad_preview_is_a_422(asgi_client, admin, body):
    async with asgi_client as client:
        product = await create_product(client, admin)
        response = await client.post(f"{API}/schedule-preview", headers=admin,
                                     json={"product_id": product["id"], **body})
    assert response.status_code == 422, response.text


async def test_a_loan_not_yet_disbursed_has_no_schedule_or_payoff(asgi_client, admin, borrower_id):
    async with asgi_client as client:
        product = await create_product(client, admin)
        loan = await create_loan(client, admin, borrower_id=borrower_id, product_id=product["id"])
        schedule = await client.get(f"{API}/loans/{loan['id']}/schedule", headers=admin)
        payoff = await client.get(f"{API}/loans/{loan['id']}/payoff-quote", headers=admin)
    assert schedule.status_code == 409 and payoff.status_code == 409


async def test_a_flat_loans_payoff_quote_charges_what_its_schedule_has_earned(asgi_client, admin, borrower_id):
    # given a 12% flat loan of 10000.00 over 12 months (100.00 interest every period), disbursed Jan 15
    async with asgi_client as client:
        product = await create_product(client, admin, interest_method="flat", day_count="actual/365")
        loan = await create_loan(client, admin, borrower_id=borrower_id, product_id=product["id"])
        await transition(client, admin, loan["id"], "approve")
        await transition(client, admin, loan["id"], "disburse", {"disbursement_date": "2024-01-15",
                                                                 "first_payment_date": "2024-02-15"})
        # when quoted on Mar 1: period 1 whole, and 15 of period 2's 29 days
        quote = await client.get(f"{API}/loans/{loan['id']}/payoff-quote?as_of=2024-03-01", headers=admin)
    # then 100.00 + 100.00 × 15/29 = 151.72 (the declining formula would say 10000 × 12% × 46/365 = 151.23)
    assert quote.status_code == 200, quote.text
    assert quote.json() == {"as_of": "2024-03-01", "principal": "10000.00", "interest": "151.72", "fees": "0.00",
                            "total": "10151.72"}
