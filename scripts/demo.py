#!/usr/bin/env python
"""The `make run` demo: one loan's life through the public API only, then its statement.

A tenant token, a product, a borrower, a loan approved and disbursed, three payments (the third one
late, so it pays a late fee first), an accrual run, a payoff quote paid in full; then the loan's
schedule, its payments with their allocation, its ledger transactions and balances.

Run against a running stack: ``python scripts/demo.py`` (URLs from LENDSIMPLE_*_URL, secret from
LENDSIMPLE_JWT_SECRET, as `make run` sets them).
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from decimal import Decimal

import httpx

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "libs", "common", "src"))
from common.tokens import mint_token  # noqa: E402

TIMEOUT = 60.0


class DemoError(RuntimeError):
    pass


class Api:
    def __init__(self, urls: dict[str, str], token: str):
        self.urls = urls
        self.client = httpx.Client(timeout=30, headers={"Authorization": f"Bearer {token}"})

    def call(self, method: str, service: str, path: str, expect: int | tuple[int, ...] = (200, 201, 202), **kw):
        response = self.client.request(method, f"{self.urls[service]}/api/v1{path}", **kw)
        expected = (expect,) if isinstance(expect, int) else expect
        if response.status_code not in expected:
            raise DemoError(f"{method} {service}{path} -> {response.status_code}: {response.text[:400]}")
        return response.json()

    def until(self, what: str, fetch, done, timeout: float = TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            value = fetch()
            if done(value):
                return value
            if time.monotonic() > deadline:
                raise DemoError(f"timed out waiting for {what}: last seen {value}")
            time.sleep(0.25)


def step(message: str) -> None:
    print(f"\033[1m==> {message}\033[0m", flush=True)


def run_demo(stack=None, *, tenant: str | None = None, quiet: bool = False) -> dict:
    urls = {s: (stack.url(s) if stack else os.environ.get(f"LENDSIMPLE_{s.upper()}_URL", f"http://127.0.0.1:{p}"))
            for s, p in (("borrowers", 8001), ("loans", 8002), ("payments", 8003))}
    tenant = tenant or f"demo-{uuid.uuid4().hex[:6]}"
    say = (lambda *_: None) if quiet else step
    api = Api(urls, mint_token(tenant=tenant, roles=["admin"], sub="demo-admin"))

    say(f"tenant {tenant}: an admin token minted with common.auth")
    product = api.call("POST", "loans", "/products", json={
        "name": "Personal loan, 12 months", "currency": "USD", "annual_rate": "0.12", "term_min": 3,
        "term_max": 60, "frequency": "monthly", "interest_method": "declining_balance",
        "amortization": "equal_installments", "day_count": "30/360", "rounding": {"mode": "half_even", "places": 2},
        "origination_fee": {"type": "flat", "value": "0.00"}, "late_fee": {"amount": "25.00", "grace_days": 10},
        "default_after_days": 90, "allocation_order": ["fees", "interest", "principal"]})
    say(f"product {product['id']}: 12% a year, monthly, 30/360, late fee 25.00 after 10 days")
    borrower = api.call("POST", "borrowers", "/borrowers", json={
        "first_name": "Ada", "last_name": "Lovelace", "email": f"ada.{uuid.uuid4().hex[:6]}@example.com"})
    say(f"borrower {borrower['id']}: Ada Lovelace (identity check: {borrower['kyc_status']})")
    loan = api.call("POST", "loans", "/loans", json={"borrower_id": borrower["id"], "product_id": product["id"],
                                                     "principal": "10000.00", "term": 12})
    loan = api.call("POST", "loans", f"/loans/{loan['id']}/approve", json={})
    say(f"loan {loan['id']}: 10,000.00 over 12 months, {loan['status']}")
    loan = api.call("POST", "loans", f"/loans/{loan['id']}/disburse",
                    json={"disbursement_date": "2024-01-15", "first_payment_date": "2024-02-15"})
    say(f"disbursed 2024-01-15: {loan['status']}")
    schedule = api.call("GET", "loans", f"/loans/{loan['id']}/schedule")
    inst = schedule["installments"]

    payments = []
    plan = [(inst[0]["due_date"], Decimal(inst[0]["total"]), "on time"),
            (inst[1]["due_date"], Decimal(inst[1]["total"]), "on time"),
            ("2024-05-01", Decimal(inst[2]["total"]) + Decimal("25.00"), "16 days late: late fee first")]
    for value_date, amount, note in plan:
        payment = api.call("POST", "payments", "/payments", headers={"Idempotency-Key": uuid.uuid4().hex}, json={
            "loan_id": loan["id"], "amount": str(amount), "currency": "USD", "method": "ach",
            "value_date": value_date})
        payment = api.until(f"payment {payment['id']} allocated",
                            lambda pid=payment["id"]: api.call("GET", "payments", f"/payments/{pid}"),
                            lambda p: p["status"] in ("allocated", "failed", "returned"))
        if payment["status"] != "allocated":
            raise DemoError(f"payment {payment['id']} ended {payment['status']}")
        payments.append(payment)
        a = payment["allocation"]
        say(f"payment {amount} on {value_date} ({note}): fees {a['fees']}, interest {a['interest']}, "
            f"principal {a['principal']}, overpayment {a['overpayment']}")

    run = api.call("POST", "loans", "/accrual-runs", json={"through": "2024-05-20"}, expect=202)
    run = api.until("accrual run", lambda: api.call("GET", "loans", f"/accrual-runs/{run['id']}"),
                    lambda r: r["status"] in ("completed", "failed"))
    say(f"accrual run through 2024-05-20: {run['status']}, {run['accounts_done']}/{run['accounts_total']} accounts")

    quote = api.call("GET", "loans", f"/loans/{loan['id']}/payoff-quote", params={"as_of": "2024-05-20"})
    say(f"payoff quote as of 2024-05-20: {quote['total']} (principal {quote['principal']}, "
        f"interest {quote['interest']}, fees {quote['fees']})")
    payoff = api.call("POST", "payments", "/payments", headers={"Idempotency-Key": uuid.uuid4().hex}, json={
        "loan_id": loan["id"], "amount": quote["total"], "currency": "USD", "method": "ach",
        "value_date": "2024-05-20"})
    payoff = api.until("payoff allocated", lambda: api.call("GET", "payments", f"/payments/{payoff['id']}"),
                       lambda p: p["status"] in ("allocated", "failed", "returned"))
    payments.append(payoff)
    loan = api.until("loan paid off", lambda: api.call("GET", "loans", f"/loans/{loan['id']}"),
                     lambda x: x["status"] == "paid_off", timeout=30)
    transactions = api.call("GET", "loans", f"/loans/{loan['id']}/transactions", params={"limit": 500})
    if not quiet:
        print_statement(loan, schedule, payments, transactions, urls)
    return {"tenant": tenant, "loan": loan, "schedule": schedule, "payments": payments, "quote": quote,
            "transactions": transactions, "product": product, "borrower": borrower}


def print_statement(loan, schedule, payments, transactions, urls) -> None:
    line = "─" * 78
    print(f"\n{line}\nSTATEMENT  loan {loan['id']}   status: {loan['status'].upper()}\n{line}")
    print(f"principal {loan['principal']} {loan['currency']}  rate {loan['annual_rate']}  term {loan['term']}  "
          f"disbursed {loan['disbursement_date']}  first payment {loan['first_payment_date']}")
    print("\nSchedule")
    print(f"  {'#':>2}  {'due':10}  {'principal':>10}  {'interest':>9}  {'fees':>7}  {'total':>9}  {'balance':>10}")
    for i in schedule["installments"]:
        print(f"  {i['number']:>2}  {i['due_date']:10}  {i['principal']:>10}  {i['interest']:>9}  {i['fees']:>7}  "
              f"{i['total']:>9}  {i['balance_after']:>10}")
    t = schedule["totals"]
    print(f"  {'':>2}  {'totals':10}  {t['principal']:>10}  {t['interest']:>9}  {t['fees']:>7}  {t['total']:>9}")
    print("\nPayments")
    print(f"  {'value date':10}  {'amount':>9}  {'status':9}  {'fees':>7}  {'interest':>9}  {'principal':>10}  "
          f"{'overpaid':>8}")
    for p in payments:
        a = p.get("allocation") or {}
        print(f"  {p['value_date']:10}  {p['amount']:>9}  {p['status']:9}  {a.get('fees', '-'):>7}  "
              f"{a.get('interest', '-'):>9}  {a.get('principal', '-'):>10}  {a.get('overpayment', '-'):>8}")
    print(f"\nLedger movements seen by the loan ({transactions['count']})")
    for tx in transactions["items"][:40]:
        print(f"  {tx.get('effective_date', ''):10}  {tx.get('kind', ''):16}  {tx.get('amount', ''):>10}")
    b = loan["balances"]
    print(f"\nBalances: principal {b['principal']}  interest {b['interest']}  fees {b['fees']}  total {b['total']}"
          f"   days past due {loan['days_past_due']}")
    print(f"{line}\nWhere to look:")
    for name, url in urls.items():
        print(f"  {name:10} docs {url}/api/v1/docs   metrics {url}/metrics   ready {url}/readyz")
    print("  worker     metrics http://127.0.0.1:8004/metrics     logs .run/<process>.log")
    print(line)


if __name__ == "__main__":
    try:
        run_demo()
    except DemoError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        sys.exit(1)
