"""The whole system across real processes, driven only through the public API (API.md)."""

from __future__ import annotations

import json
import time
import uuid
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from common.tokens import mint_token

ORACLES = json.loads((Path(__file__).parent / "data" / "schedules.json").read_text())


def client(tenant: str, roles=("admin",)) -> httpx.Client:
    return httpx.Client(timeout=30, headers={"Authorization": f"Bearer {mint_token(tenant=tenant, roles=list(roles))}"})


def wait_for(fetch, done, timeout=60.0):
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"timed out; last: {value}"
        time.sleep(0.2)


def product_body(case_request: dict, **overrides) -> dict:
    body = {"name": "e2e", "currency": "USD", "annual_rate": case_request["annual_rate"], "term_min": 1,
            "term_max": 360, "frequency": "monthly", "interest_method": case_request["interest_method"],
            "amortization": case_request["amortization"], "day_count": case_request["day_count"],
            "rounding": case_request["rounding"], "origination_fee": {"type": "flat", "value": "0.00"},
            "late_fee": {"amount": "0.00", "grace_days": 10}, "default_after_days": 90,
            "allocation_order": ["fees", "interest", "principal"]}
    return body | overrides


def active_loan(stack, c: httpx.Client, case: dict, **product_overrides) -> dict:
    req = case["request"]
    borrower = c.post(f"{stack.url('borrowers')}/api/v1/borrowers", json={
        "first_name": "Grace", "last_name": "Hopper", "email": f"{uuid.uuid4().hex[:10]}@example.com"})
    assert borrower.status_code == 201, borrower.text
    product = c.post(f"{stack.url('loans')}/api/v1/products", json=product_body(req, **product_overrides))
    assert product.status_code == 201, product.text
    loan = c.post(f"{stack.url('loans')}/api/v1/loans", json={
        "borrower_id": borrower.json()["id"], "product_id": product.json()["id"], "principal": req["principal"],
        "term": req["term"]})
    assert loan.status_code == 201, loan.text
    loan_id = loan.json()["id"]
    assert c.post(f"{stack.url('loans')}/api/v1/loans/{loan_id}/approve", json={}).status_code == 200
    disbursed = c.post(f"{stack.url('loans')}/api/v1/loans/{loan_id}/disburse", json={
        "disbursement_date": req["disbursement_date"], "first_payment_date": req["first_payment_date"]})
    assert disbursed.status_code == 200, disbursed.text
    assert disbursed.json()["status"] == "active"
    return disbursed.json()


def pay(stack, c: httpx.Client, loan_id: str, amount: str, value_date: str, key: str | None = None) -> dict:
    response = c.post(f"{stack.url('payments')}/api/v1/payments", headers={"Idempotency-Key": key or uuid.uuid4().hex},
                      json={"loan_id": loan_id, "amount": amount, "currency": "USD", "method": "ach",
                            "value_date": value_date})
    assert response.status_code == 201, response.text
    return wait_for(lambda: c.get(f"{stack.url('payments')}/api/v1/payments/{response.json()['id']}").json(),
                    lambda p: p["status"] in ("allocated", "failed", "returned"))


def test_demo_runs_the_whole_lifecycle(stack):
    # given the stack, when the `make run` demo drives it
    from demo import run_demo

    result = run_demo(stack, quiet=True)
    # then the late payment paid its late fee first, the payoff closed the loan and nothing is owed
    late = result["payments"][2]["allocation"]
    assert Decimal(late["fees"]) == Decimal("25.00")
    assert result["loan"]["status"] == "paid_off"
    assert all(Decimal(v) == 0 for v in result["loan"]["balances"].values())
    assert Decimal(result["payments"][-1]["allocation"]["overpayment"]) == 0
    assert result["transactions"]["count"] > 0


# A: declining balance; A3: flat interest (on the declining formula it would have accrued 91.67 in period 2,
# not the schedule's 100.00, and each installment would have repaid more principal than scheduled)
@pytest.mark.parametrize("case", [ORACLES[0], ORACLES[2]], ids=lambda c: c["case"])
def test_an_oracle_paid_on_schedule_ends_paid_off_with_allocations_equal_to_the_schedule(stack, case):
    c = client(f"e2e-{uuid.uuid4().hex[:6]}")
    loan = active_loan(stack, c, case)
    schedule = c.get(f"{stack.url('loans')}/api/v1/loans/{loan['id']}/schedule").json()
    assert [(i["due_date"], i["interest"], i["principal"]) for i in schedule["installments"]] == \
        [(i["due_date"], i["interest"], i["principal"]) for i in case["expected"]["installments"]]
    for inst in case["expected"]["installments"]:
        payment = pay(stack, c, loan["id"], inst["total"], inst["due_date"])
        assert payment["status"] == "allocated", payment
        a = payment["allocation"]
        assert (Decimal(a["interest"]), Decimal(a["principal"]), Decimal(a["fees"]), Decimal(a["overpayment"])) == \
            (Decimal(inst["interest"]), Decimal(inst["principal"]), 0, 0), inst
    final = wait_for(lambda: c.get(f"{stack.url('loans')}/api/v1/loans/{loan['id']}").json(),
                     lambda x: x["status"] == "paid_off", timeout=30)
    assert all(Decimal(v) == 0 for v in final["balances"].values())


def test_a_back_dated_payment_re_splits_a_later_one_as_its_payment_shows(stack):
    # given oracle A with installment 2's amount paid on its due date while installment 1 is unpaid
    c = client(f"e2e-{uuid.uuid4().hex[:6]}")
    loan = active_loan(stack, c, ORACLES[0])
    second = ORACLES[0]["expected"]["installments"][1]
    later = pay(stack, c, loan["id"], second["total"], second["due_date"])
    assert later["allocation"]["interest"] == "200.00"           # two months of interest came first
    # when installment 1's payment arrives, value-dated on its due date
    first = ORACLES[0]["expected"]["installments"][0]
    earlier = pay(stack, c, loan["id"], first["total"], first["due_date"])
    # then both payments show the schedule's split: the later one re-split as if it had arrived second
    assert (earlier["allocation"]["interest"], earlier["allocation"]["principal"]) == (first["interest"],
                                                                                       first["principal"])
    shown = wait_for(lambda: c.get(f"{stack.url('payments')}/api/v1/payments/{later['id']}").json(),
                     lambda p: p["allocation"]["interest"] == second["interest"], timeout=30)
    assert (shown["status"], shown["allocation"]["principal"]) == ("allocated", second["principal"])
    # and the loan's transactions list that payment once, with the same split

    def listed_payment():
        items = c.get(f"{stack.url('loans')}/api/v1/loans/{loan['id']}/transactions").json()["items"]
        return [t for t in items if t["kind"] == "payment" and t["reference"] == later["id"]]

    rows = wait_for(listed_payment, lambda r: len(r) == 1 and r[0]["breakdown"]["interest"] == second["interest"],
                    timeout=30)
    assert rows[0]["breakdown"]["principal"] == second["principal"]


def test_a_returned_payoff_reopens_the_loan_and_it_can_be_paid_off_again(stack):
    # given oracle A paid off in one payment on its first due date (10,000.00 + one month's 100.00)
    c = client(f"e2e-{uuid.uuid4().hex[:6]}")
    loan = active_loan(stack, c, ORACLES[0])
    loan_url = f"{stack.url('loans')}/api/v1/loans/{loan['id']}"
    payoff = pay(stack, c, loan["id"], "10100.00", "2024-02-15")
    assert payoff["status"] == "allocated"
    wait_for(lambda: c.get(loan_url).json(), lambda x: x["status"] == "paid_off", timeout=30)
    # when that payment is returned (NSF)
    returned = c.post(f"{stack.url('payments')}/api/v1/payments/{payoff['id']}/return", json={"reason": "NSF"})
    assert returned.status_code == 200, returned.text
    # then the loan owes the principal and interest again and is active (payable) again
    reopened = wait_for(lambda: c.get(loan_url).json(), lambda x: x["status"] == "active", timeout=30)
    assert Decimal(reopened["balances"]["principal"]) == Decimal("10000.00")
    # and a new payoff pays it off again
    again = pay(stack, c, loan["id"], reopened["balances"]["total"], "2024-02-15")
    assert again["status"] == "allocated", again
    final = wait_for(lambda: c.get(loan_url).json(), lambda x: x["status"] == "paid_off", timeout=30)
    assert all(Decimal(v) == 0 for v in final["balances"].values())


def test_a_payoff_quote_paid_on_its_date_pays_the_loan_off_late_fee_included(stack):
    # given oracle A with a 25.00 late fee after 10 days of grace, installment 1 (due 02-15) unpaid, accrued by a run
    # through 02-25: the fee falls on 02-26
    c = client(f"e2e-{uuid.uuid4().hex[:6]}")
    loan = active_loan(stack, c, ORACLES[0], late_fee={"amount": "25.00", "grace_days": 10})
    loans = f"{stack.url('loans')}/api/v1"
    run = c.post(f"{loans}/accrual-runs", json={"through": "2024-02-25"}, headers={"Idempotency-Key": uuid.uuid4().hex})
    assert run.status_code == 202, run.text
    wait_for(lambda: c.get(f"{loans}/accrual-runs/{run.json()['id']}").json(), lambda r: r["status"] == "completed")
    wait_for(lambda: c.get(f"{loans}/loans/{loan['id']}").json(), lambda x: x["days_past_due"] == 10, timeout=30)
    # when the quote for 02-26 is paid on 02-26
    quote = c.get(f"{loans}/loans/{loan['id']}/payoff-quote", params={"as_of": "2024-02-26"}).json()
    assert quote["fees"] == "25.00" and quote["total"] == "10161.67"
    payment = pay(stack, c, loan["id"], quote["total"], "2024-02-26")
    # then the ledger assessed the fee first, the payment paid everything and nothing is left over or owed
    assert payment["status"] == "allocated", payment
    assert payment["allocation"] == {"fees": "25.00", "interest": "136.67", "principal": "10000.00",
                                     "overpayment": "0.00"}
    final = wait_for(lambda: c.get(f"{loans}/loans/{loan['id']}").json(), lambda x: x["status"] == "paid_off",
                     timeout=30)
    assert all(Decimal(v) == 0 for v in final["balances"].values())


def test_payment_retry_with_the_same_key_is_not_a_second_payment(stack):
    c = client(f"e2e-{uuid.uuid4().hex[:6]}")
    loan = active_loan(stack, c, ORACLES[0])
    key = uuid.uuid4().hex
    body = {"loan_id": loan["id"], "amount": "100.00", "currency": "USD", "method": "ach", "value_date": "2024-02-01"}
    first = c.post(f"{stack.url('payments')}/api/v1/payments", headers={"Idempotency-Key": key}, json=body)
    again = c.post(f"{stack.url('payments')}/api/v1/payments", headers={"Idempotency-Key": key}, json=body)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    other = c.post(f"{stack.url('payments')}/api/v1/payments", headers={"Idempotency-Key": key},
                   json=body | {"amount": "101.00"})
    assert other.status_code == 409
    listed = c.get(f"{stack.url('payments')}/api/v1/payments", params={"loan_id": loan["id"]}).json()
    assert listed["count"] == 1


def test_a_payment_on_another_tenants_loan_is_refused(stack):
    owner = client(f"e2e-{uuid.uuid4().hex[:6]}")
    loan = active_loan(stack, owner, ORACLES[0])
    intruder = client(f"e2e-{uuid.uuid4().hex[:6]}")
    response = intruder.post(f"{stack.url('payments')}/api/v1/payments", headers={"Idempotency-Key": uuid.uuid4().hex},
                             json={"loan_id": loan["id"], "amount": "10.00", "currency": "USD", "method": "ach",
                                   "value_date": "2024-02-01"})
    assert response.status_code in (404, 422)
    assert intruder.get(f"{stack.url('loans')}/api/v1/loans/{loan['id']}").status_code == 404
    assert intruder.get(f"{stack.url('payments')}/api/v1/payments", params={"loan_id": loan["id"]}).json()["count"] == 0


@pytest.mark.parametrize("service", ["borrowers", "loans", "payments"])
def test_every_service_is_healthy_ready_and_documented(stack, service):
    for path in ("/healthz", "/readyz", "/metrics", "/api/v1/docs"):
        assert httpx.get(f"{stack.url(service)}{path}", timeout=10).status_code == 200, path
    assert httpx.get(f"{stack.url(service)}/api/v1/borrowers" if service == "borrowers"
                     else f"{stack.url(service)}/api/v1/{'loans' if service == 'loans' else 'payments'}",
                     timeout=10).status_code == 401


def test_the_ledger_is_balanced_and_agrees_with_the_loans_projection(stack, ledger_db):
    # given some activity (the other tests of this module ran first; make sure there is some anyway)
    c = client(f"e2e-{uuid.uuid4().hex[:6]}")
    loan = active_loan(stack, c, ORACLES[0])
    pay(stack, c, loan["id"], "888.49", "2024-02-15")
    # then every journal entry balances, and the whole journal does
    unbalanced = ledger_db.execute(
        "SELECT entry_id FROM ledger_journal_line GROUP BY entry_id HAVING sum(debit) <> sum(credit)").fetchall()
    assert unbalanced == []
    debits, credits = ledger_db.execute("SELECT sum(debit), sum(credit) FROM ledger_journal_line").fetchone()
    assert debits == credits and debits > 0
    # and the loans service's projection of this loan equals its ledger account
    principal, interest, fees = ledger_db.execute(
        "SELECT principal, interest + interest_suspended, fees FROM ledger_account WHERE loan_id = %s",
        (loan["id"],)).fetchone()
    projected = wait_for(lambda: c.get(f"{stack.url('loans')}/api/v1/loans/{loan['id']}").json()["balances"],
                         lambda b: Decimal(b["principal"]) == principal, timeout=30)
    assert (Decimal(projected["principal"]), Decimal(projected["interest"]), Decimal(projected["fees"])) == \
        (principal, interest, fees)
