"""Concurrency through the public API: many payments on one loan, racing lifecycle transitions."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date
from decimal import Decimal

import httpx
import pytest
from rel_support import Api, active_loan, new_loan, wait_for

CENT = Decimal("0.01")


@pytest.fixture(scope="module")
def api(stack) -> Api:
    return Api.for_stack(stack, f"rel-cc-{uuid.uuid4().hex[:6]}")


async def _fire(requests: list[tuple[str, str, dict | None, dict]], token_headers: dict,
                in_flight: int) -> list[httpx.Response]:
    """Send every request at once (at most ``in_flight`` connections), return the responses in order."""
    limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
    async with httpx.AsyncClient(timeout=120, headers=token_headers, limits=limits) as client:
        start = asyncio.Event()

        async def one(method, url, body, headers):
            await start.wait()
            return await client.request(method, url, json=body, headers=headers)

        tasks = [asyncio.create_task(one(*r)) for r in requests]
        await asyncio.sleep(0.05)
        start.set()
        return await asyncio.gather(*tasks)


def fire(api: Api, requests, in_flight: int = 64) -> list[httpx.Response]:
    # Each in-flight request holds a PostgreSQL connection in the API (and the payments API one more in the
    # loans API for its REST check); a shared machine's max_connections (100) bounds what can be in flight.
    return asyncio.run(_fire(requests, dict(api.client.headers), in_flight))


def test_200_concurrent_payments_on_one_loan_are_each_allocated_once_and_balances_are_exact(stack, api, ledger_db):
    # given an active loan of 10,000.00
    loan = active_loan(api)
    amounts = [Decimal(100 + (i * 37) % 900) / 100 for i in range(200)]       # 1.00 .. 9.99, 200 of them
    today = date.today().isoformat()
    url = f"{stack.url('payments')}/api/v1/payments"
    # when 200 payments are posted at once
    answers = fire(api, [("POST", url, {"loan_id": loan["id"], "amount": f"{a:.2f}", "currency": "USD",
                                        "method": "ach", "value_date": today}, {"Idempotency-Key": uuid.uuid4().hex})
                         for a in amounts], in_flight=8)
    assert [r.status_code for r in answers] == [201] * 200, {r.status_code: r.text[:200] for r in answers}
    ids = [r.json()["id"] for r in answers]
    assert len(set(ids)) == 200
    # then every one is allocated
    def listed():
        return [p for offset in (0, 100) for p in
                api.ok("GET", "payments", f"/payments?loan_id={loan['id']}&limit=100&offset={offset}")["items"]]

    payments = wait_for(listed,
                        lambda items: len(items) == 200 and all(p["status"] == "allocated" for p in items),
                        timeout=240, what="200 payments allocated")
    parts = sum((sum(Decimal(p["allocation"][k]) for k in ("fees", "interest", "principal", "overpayment"))
                 for p in payments), Decimal(0))
    assert parts == sum(amounts)
    # and the ledger holds exactly one allocation per payment, summing to the payments
    rows = ledger_db.execute("SELECT count(*), count(DISTINCT payment_id), sum(amount), sum(principal), "
                             "sum(interest), sum(fees), sum(overpayment) FROM ledger_allocation "
                             "WHERE payment_id = ANY(%s) AND NOT reversed", ([uuid.UUID(i) for i in ids],)).fetchone()
    assert rows[:3] == (200, 200, sum(amounts))
    assert rows[3] + rows[4] + rows[5] + rows[6] == sum(amounts)
    api_principal = sum((Decimal(p["allocation"]["principal"]) for p in payments), Decimal(0))
    assert rows[3] == api_principal
    # and the account's principal is the disbursed principal less exactly what was allocated to it
    account = ledger_db.execute("SELECT principal, interest + interest_suspended, fees, opening_principal FROM ledger_account "
                                "WHERE loan_id = %s", (uuid.UUID(loan["id"]),)).fetchone()
    assert account[0] == account[3] - rows[3]
    # and every journal entry of the account balances
    unbalanced = ledger_db.execute("SELECT count(*) FROM (SELECT e.id FROM ledger_journal_entry e JOIN "
                                   "ledger_journal_line l ON l.entry_id = e.id JOIN ledger_account a ON a.id = "
                                   "e.account_id WHERE a.loan_id = %s GROUP BY e.id HAVING sum(l.debit) <> "
                                   "sum(l.credit)) x", (uuid.UUID(loan["id"]),)).fetchone()[0]
    assert unbalanced == 0
    # and the loans service's projection equals the ledger to the cent
    projected = wait_for(lambda: api.ok("GET", "loans", f"/loans/{loan['id']}")["balances"],
                         lambda b: Decimal(b["principal"]) == account[0].quantize(CENT), timeout=60,
                         what="projection caught up")
    assert (Decimal(projected["interest"]), Decimal(projected["fees"])) == \
        (account[1].quantize(CENT), account[2].quantize(CENT))


@pytest.mark.parametrize("round_", range(3))
def test_racing_approve_cancel_deny_on_a_pending_loan_has_one_winner(stack, api, round_):
    loan = new_loan(api)
    base = f"{stack.url('loans')}/api/v1/loans/{loan['id']}"
    race = [("POST", f"{base}/approve", {}, {}), ("POST", f"{base}/cancel", {}, {}),
            ("POST", f"{base}/deny", {"reason": "race"}, {})] * 4
    answers = fire(api, race)
    codes = [r.status_code for r in answers]
    assert set(codes) <= {200, 409}, [(r.status_code, r.text[:200]) for r in answers]
    won = sorted(r.json()["status"] for r in answers if r.status_code == 200)
    final = api.ok("GET", "loans", f"/loans/{loan['id']}")["status"]
    # the successful transitions form one legal serial history from `pending` (approve then cancel is legal:
    # an approved loan may still be cancelled), each transition succeeded once, and it ends in the final state
    assert won in (["approved"], ["cancelled"], ["denied"], ["approved", "cancelled"]), (won, final, codes)
    assert final == ("cancelled" if "cancelled" in won else won[0]), (won, final)


def test_racing_disburse_and_cancel_on_an_approved_loan_leaves_one_legal_outcome(stack, api, ledger_db):
    outcomes, cancelled = [], []
    for _ in range(3):
        loan = new_loan(api)
        api.ok("POST", "loans", f"/loans/{loan['id']}/approve", {})
        base = f"{stack.url('loans')}/api/v1/loans/{loan['id']}"
        race = [("POST", f"{base}/disburse", {"disbursement_date": date.today().isoformat()}, {}),
                ("POST", f"{base}/cancel", {}, {})] * 5
        answers = fire(api, race)
        assert {r.status_code for r in answers} <= {200, 409}, [(r.status_code, r.text[:200]) for r in answers]
        final = api.ok("GET", "loans", f"/loans/{loan['id']}")
        won = {r.json()["status"] for r in answers if r.status_code == 200}
        assert won == {final["status"]} and final["status"] in ("active", "cancelled"), (won, final["status"])
        outcomes.append(final["status"])
        if final["status"] == "cancelled":
            cancelled.append(uuid.UUID(loan["id"]))
        # the ledger opens an account only for a disbursed loan, and only one
        if final["status"] == "active":
            wait_for(lambda lid=loan["id"]: ledger_db.execute("SELECT count(*) FROM ledger_account WHERE loan_id = %s",
                                                              (uuid.UUID(lid),)).fetchone()[0],
                     lambda n: n == 1, timeout=60, what="one ledger account")
            assert Decimal(final["balances"]["principal"]) == Decimal(loan["principal"])
    # nothing opened an account for a cancelled loan (checked after the accounts of the active ones opened)
    assert ledger_db.execute("SELECT count(*) FROM ledger_account WHERE loan_id = ANY(%s)", (cancelled,)).fetchone()[0] == 0
    assert all(o in ("active", "cancelled") for o in outcomes)
