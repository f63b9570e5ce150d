import uuid

import pytest
from asgiref.sync import sync_to_async
from loans.projection import UnknownLoan

from tests.api import API, active_loan, balances, delinquency, deliver, outbox

pytestmark = pytest.mark.django_db(transaction=True)

BALANCE = "ledger.loan.balance_changed.v1"


def changed(loan_id, sequence, principal, interest="0.00", fees="0.00", *, dpd=0, paid_off=False, **extra):
    return {"loan_id": loan_id, "sequence": sequence, "balances": balances(principal, interest, fees),
            "days_past_due": dpd, "delinquency_bucket": "current" if dpd == 0 else "dpd_1_29",
            "cause": "payment", "paid_off": paid_off, **extra}


async def _get(client, headers, loan_id, path=""):
    return (await client.get(f"{API}/loans/{loan_id}{path}", headers=headers)).json()


async def test_balances_apply_in_sequence_and_stale_or_duplicate_ones_are_ignored(asgi_client, admin, tenant,
                                                                                  borrower_id):
    # given an active loan
    async with asgi_client as client:
        _, loan = await active_loan(client, admin, borrower_id=borrower_id)
        deliver_ = sync_to_async(deliver)
        # when sequence 3 arrives, then 2 (late), then 3 again (duplicate with other numbers)
        await deliver_(tenant, BALANCE, changed(loan["id"], 3, "9211.51", "5.00", dpd=4))
        await deliver_(tenant, BALANCE, changed(loan["id"], 2, "9999.99", "1.00"))
        await deliver_(tenant, BALANCE, changed(loan["id"], 3, "1.00", "1.00"))
        after = await _get(client, admin, loan["id"])
        # and a newer one moves it on
        await deliver_(tenant, BALANCE, changed(loan["id"], 4, "8415.14"))
        latest = await _get(client, admin, loan["id"])
    # then only the newest change counts
    assert after["balances"] == balances("9211.51", "5.00") and after["days_past_due"] == 4
    assert latest["balances"] == balances("8415.14") and latest["days_past_due"] == 0


async def test_paid_off_balance_pays_the_loan_off_once(asgi_client, admin, tenant, borrower_id):
    async with asgi_client as client:
        _, loan = await active_loan(client, admin, borrower_id=borrower_id)
        for _ in range(2):  # a replay cannot pay off twice
            await sync_to_async(deliver)(tenant, BALANCE, changed(loan["id"], 7, "0.00", paid_off=True))
        after = await _get(client, admin, loan["id"])
    assert after["status"] == "paid_off" and after["balances"]["total"] == "0.00"
    events = await sync_to_async(outbox)(tenant, "loans.loan.paid_off.v1")
    assert [e["body"]["payload"]["loan_id"] for e in events] == [loan["id"]]


async def test_a_paid_off_loan_that_owes_again_is_active_again_and_can_default(asgi_client, admin, tenant,
                                                                               borrower_id):
    # given a loan paid off (sequence 7), on a product that defaults after 30 days past due
    async with asgi_client as client:
        _, loan = await active_loan(client, admin, borrower_id=borrower_id, default_after_days=30)
        deliver_ = sync_to_async(deliver)
        await deliver_(tenant, BALANCE, changed(loan["id"], 7, "0.00", paid_off=True))
        # when its payoff payment is returned: the ledger reverses it and charges an NSF fee (sequence 8), and a
        # stale copy of the paid-off change arrives again
        await deliver_(tenant, BALANCE, changed(loan["id"], 8, "913.49", "0.00", "25.00", dpd=12, cause="reversal"))
        await deliver_(tenant, BALANCE, changed(loan["id"], 7, "0.00", paid_off=True))
        reopened = await _get(client, admin, loan["id"])
        # and it then ages past the threshold
        await deliver_(tenant, "ledger.loan.delinquency_changed.v1", delinquency(loan["id"], 9, 31))
        defaulted = await _get(client, admin, loan["id"])
    # then it is active again, owing the returned principal and the fee, and defaults like any other loan
    assert reopened["status"] == "active" and reopened["balances"]["total"] == "938.49"
    assert reopened["days_past_due"] == 12
    assert defaulted["status"] == "defaulted"
    events = await sync_to_async(outbox)(tenant, "loans.loan.reopened.v1")
    assert [(e["body"]["payload"]["balance_total"], e["body"]["payload"]["cause"]) for e in events] == \
        [("938.49", "reversal")]


async def test_a_run_that_accrues_a_loan_shown_paid_off_reopens_it(asgi_client, admin, tenant, borrower_id):
    # given a loan paid off (sequence 7) whose reopening balance_changed (8) has not arrived (or arrives late)
    async with asgi_client as client:
        _, loan = await active_loan(client, admin, borrower_id=borrower_id)
        deliver_ = sync_to_async(deliver)
        await deliver_(tenant, BALANCE, changed(loan["id"], 7, "0.00", paid_off=True))
        # when the night's run reports the (open) account at sequence 9, then the late balance_changed (8)
        account = {"loan_id": loan["id"], "sequence": 9, "balances": balances("10000.00", "3.33"),
                   "last_accrual_date": "2024-02-16", "accrued": "3.33", "status": "open"}
        await deliver_(tenant, "ledger.accrual_run.progressed.v1", {
            "run_id": str(uuid.uuid4()), "status": "completed", "through": "2024-02-16", "accounts_total": 1,
            "accounts_done": 1, "accounts": [account]})
        await deliver_(tenant, BALANCE, changed(loan["id"], 8, "10000.00", cause="reversal"))
        after = await _get(client, admin, loan["id"])
    # then the run reopened it, once
    assert after["status"] == "active" and after["balances"]["total"] == "10003.33"
    assert len(await sync_to_async(outbox)(tenant, "loans.loan.reopened.v1")) == 1


async def test_a_payoff_the_ledger_applied_before_a_charge_off_reached_it_wins(asgi_client, admin, tenant, borrower_id):
    # given a defaulted loan whose payoff the ledger applied (sequence 9 says paid off) while an admin charged it
    # off here; the ledger refuses a charge-off of an account it paid off
    async with asgi_client as client:
        _, loan = await active_loan(client, admin, borrower_id=borrower_id, default_after_days=30)
        deliver_ = sync_to_async(deliver)
        await deliver_(tenant, BALANCE, changed(loan["id"], 8, "10000.00", "350.00", dpd=75))   # defaulted
        charged = await client.post(f"{API}/loans/{loan['id']}/charge-off", json={"as_of": "2024-04-30"},
                                    headers=admin)
        # when the ledger's paid-off balance arrives
        await deliver_(tenant, BALANCE, changed(loan["id"], 9, "0.00", paid_off=True))
        after = await _get(client, admin, loan["id"])
    # then the loan is paid off, as the books are, and says so once
    assert charged.json()["status"] == "charged_off", charged.text
    assert (after["status"], after["balances"]["total"]) == ("paid_off", "0.00")
    assert len(await sync_to_async(outbox)(tenant, "loans.loan.paid_off.v1")) == 1


async def test_a_charged_off_loans_payoff_quote_is_its_balances_nothing_accrues(asgi_client, admin, tenant,
                                                                               borrower_id):
    # given a defaulted loan charged off with 10000.00 + 350.00 owed, as the ledger last reported
    async with asgi_client as client:
        _, loan = await active_loan(client, admin, borrower_id=borrower_id, default_after_days=30,
                                    late_fee={"amount": "25.00", "grace_days": 10})
        await sync_to_async(deliver)(tenant, BALANCE, changed(
            loan["id"], 5, "10000.00", "350.00", dpd=75, last_accrual_date="2024-04-30", accrual_since="2024-01-15",
            interest_accrued_since="350.00", oldest_unpaid_due="2024-02-15"))
        charged = await client.post(f"{API}/loans/{loan['id']}/charge-off", json={"as_of": "2024-04-30"},
                                    headers=admin)
        quote = (await client.get(f"{API}/loans/{loan['id']}/payoff-quote?as_of=2024-06-30", headers=admin)).json()
    # then two months later the quote is still the balances: no interest, no late fee (the ledger adds none)
    assert charged.status_code == 200 and charged.json()["status"] == "charged_off", charged.text
    assert quote == {"as_of": "2024-06-30", "principal": "10000.00", "interest": "350.00", "fees": "0.00",
                     "total": "10350.00"}


async def test_days_past_due_past_the_threshold_defaults_the_loan(asgi_client, admin, tenant, borrower_id):
    # given a product that defaults after 30 days past due
    async with asgi_client as client:
        _, loan = await active_loan(client, admin, borrower_id=borrower_id, default_after_days=30)
        deliver_ = sync_to_async(deliver)
        await deliver_(tenant, "ledger.loan.delinquency_changed.v1", delinquency(loan["id"], 5, 30))
        at_threshold = await _get(client, admin, loan["id"])
        # a stale delinquency event (older sequence) is ignored
        await deliver_(tenant, "ledger.loan.delinquency_changed.v1", delinquency(loan["id"], 4, 45))
        stale = await _get(client, admin, loan["id"])
        await deliver_(tenant, "ledger.loan.delinquency_changed.v1", delinquency(loan["id"], 6, 31))
        crossed = await _get(client, admin, loan["id"])
        await deliver_(tenant, "ledger.loan.delinquency_changed.v1", delinquency(loan["id"], 7, 40))
    assert at_threshold["status"] == "active" and at_threshold["days_past_due"] == 30
    assert stale["days_past_due"] == 30
    assert crossed["status"] == "defaulted" and crossed["days_past_due"] == 31
    events = await sync_to_async(outbox)(tenant, "loans.loan.defaulted.v1")
    assert [e["body"]["payload"]["days_past_due"] for e in events] == [31]


async def test_transactions_are_listed_once_from_the_ledgers_records(asgi_client, admin, tenant, borrower_id):
    # given an active loan
    payment_id, accrual_id = str(uuid.uuid4()), str(uuid.uuid4())
    async with asgi_client as client:
        _, loan = await active_loan(client, admin, borrower_id=borrower_id)
        deliver_ = sync_to_async(deliver)
        accrual = {"loan_id": loan["id"], "sequence": 2, "transaction_id": accrual_id, "kind": "accrual",
                   "effective_date": "2024-01-16", "amount": "3.33", "breakdown": {"interest": "3.33"}}
        payment = {"loan_id": loan["id"], "sequence": 3, "transaction_id": "je-77", "kind": "payment",
                   "effective_date": "2024-02-15", "amount": "888.49", "reference": payment_id,
                   "breakdown": {"interest": "100.00", "principal": "788.49"}}
        # when each is posted twice (a redelivery under another event id), and the payment's allocation event,
        # which this service no longer consumes, still arrives (queued before the upgrade unbound it)
        for event in (accrual, accrual, payment, payment):
            await deliver_(tenant, "ledger.loan.transaction_posted.v1", event)
        straggler = await deliver_(tenant, "ledger.payment.allocated.v1", {
            "loan_id": loan["id"], "sequence": 3, "payment_id": payment_id, "fees": "0.00", "interest": "100.00",
            "principal": "788.49", "overpayment": "0.00", "value_date": "2024-02-15"})
        # and the payment is reversed, with an NSF fee
        await deliver_(tenant, "ledger.loan.transaction_posted.v1", {
            "loan_id": loan["id"], "sequence": 4, "transaction_id": "je-78", "kind": "reversal",
            "effective_date": "2024-02-15", "amount": "888.49", "reference": payment_id,
            "breakdown": {"interest": "100.00", "principal": "788.49"}})
        await deliver_(tenant, "ledger.loan.transaction_posted.v1", {
            "loan_id": loan["id"], "sequence": 4, "transaction_id": "je-79", "kind": "nsf_fee",
            "effective_date": "2024-02-20", "amount": "25.00", "reference": payment_id, "breakdown": {"fees": "25.00"}})
        final = await _get(client, admin, loan["id"], "/transactions")
    # then each movement is listed once, as the ledger recorded it
    assert [(t["kind"], t["amount"], t["transaction_id"]) for t in final["items"]] == [
        ("accrual", "3.33", accrual_id), ("payment", "888.49", "je-77"), ("reversal", "888.49", "je-78"),
        ("nsf_fee", "25.00", "je-79")]
    assert final["items"][1]["reference"] == payment_id
    assert straggler.outcome == "retired"          # acked, not dead-lettered as no_handler


@pytest.mark.parametrize("order", ["payment first", "re-split first"])
async def test_a_payment_the_ledger_re_split_is_listed_once_with_its_newest_split(asgi_client, admin, tenant,
                                                                                 borrower_id, order):
    payment_id = str(uuid.uuid4())
    payment = {"sequence": 3, "transaction_id": "je-77", "kind": "payment", "effective_date": "2024-03-15",
               "amount": "888.49", "reference": payment_id, "breakdown": {"interest": "200.00", "principal": "688.49"}}
    resplit = {"sequence": 6, "transaction_id": "je-91", "kind": "reallocation", "effective_date": "2024-03-15",
               "amount": "888.49", "reference": payment_id,
               "breakdown": {"fees": "0.00", "interest": "92.12", "principal": "796.37", "overpayment": "0.00"}}
    async with asgi_client as client:
        _, loan = await active_loan(client, admin, borrower_id=borrower_id)
        events = [payment, resplit] if order == "payment first" else [resplit, payment]
        # when the payment's record and its re-split arrive (in either order), then both again
        for event in events + events:
            await sync_to_async(deliver)(tenant, "ledger.loan.transaction_posted.v1", {"loan_id": loan["id"], **event})
        listed = await _get(client, admin, loan["id"], "/transactions")
    # then the payment is listed once, by its own record, with the newest split
    assert [(t["kind"], t["transaction_id"], t["breakdown"]["interest"], t["breakdown"]["principal"])
            for t in listed["items"]] == [("payment", "je-77", "92.12", "796.37")]


async def test_a_row_derived_by_an_earlier_version_is_taken_over_by_the_ledgers_record(asgi_client, admin, tenant,
                                                                                        borrower_id):
    from common.tenancy import tenant_context
    from loans.models import LoanTransaction

    def derive(loan_id, payment_id):   # what an earlier version wrote from payment.allocated
        with tenant_context(tenant):
            LoanTransaction.objects.create(loan_id=loan_id, transaction_id=f"payment:{payment_id}", kind="payment",
                                           effective_date="2024-02-15", amount="888.49", reference=payment_id,
                                           derived=True)

    payment_id = str(uuid.uuid4())
    record = {"sequence": 3, "transaction_id": "je-77", "kind": "payment", "effective_date": "2024-02-15",
              "amount": "888.49", "reference": payment_id, "breakdown": {"interest": "100.00", "principal": "788.49"}}
    async with asgi_client as client:
        # given a payment row derived before the upgrade, its ledger record not yet arrived
        _, loan = await active_loan(client, admin, borrower_id=borrower_id)
        await sync_to_async(derive)(loan["id"], payment_id)
        # when the ledger's record arrives
        await sync_to_async(deliver)(tenant, "ledger.loan.transaction_posted.v1", {"loan_id": loan["id"], **record})
        listed = await _get(client, admin, loan["id"], "/transactions")
        # and an old consumer, beside the new one during the upgrade, derives the row again after the record was
        # listed; then the record is redelivered
        await sync_to_async(derive)(loan["id"], payment_id)
        await sync_to_async(deliver)(tenant, "ledger.loan.transaction_posted.v1", {"loan_id": loan["id"], **record})
        again = await _get(client, admin, loan["id"], "/transactions")
    # then the record takes the derived row over instead of listing the payment twice
    assert [(t["kind"], t["transaction_id"]) for t in listed["items"]] == [("payment", "je-77")]
    assert listed["items"][0]["breakdown"] == {"interest": "100.00", "principal": "788.49"}
    # and the redelivery drops the late twin (no second listing, no unique-index conflict)
    assert [(t["kind"], t["transaction_id"]) for t in again["items"]] == [("payment", "je-77")]


async def test_payoff_quote_follows_the_projection(asgi_client, admin, tenant, borrower_id):
    # given an active loan of 10000.00 at 12% (30/360) disbursed 2024-01-15
    async with asgi_client as client:
        _, loan = await active_loan(client, admin, borrower_id=borrower_id)
        before = (await client.get(f"{API}/loans/{loan['id']}/payoff-quote?as_of=2024-01-30", headers=admin)).json()
        # when the ledger reports the first installment paid on 2024-02-15
        await sync_to_async(deliver)(tenant, BALANCE, changed(
            loan["id"], 3, "9211.51", accrual_since="2024-02-15", interest_accrued_since="0.00"))
        after = (await client.get(f"{API}/loans/{loan['id']}/payoff-quote?as_of=2024-03-15", headers=admin)).json()
        too_early = await client.get(f"{API}/loans/{loan['id']}/payoff-quote?as_of=2024-02-01", headers=admin)
    # then half a month on 10000.00 is 50.00; a month on 9211.51 is installment 2's interest (92.12)
    assert before == {"as_of": "2024-01-30", "principal": "10000.00", "interest": "50.00", "fees": "0.00",
                      "total": "10050.00"}
    assert after == {"as_of": "2024-03-15", "principal": "9211.51", "interest": "92.12", "fees": "0.00",
                     "total": "9303.63"}
    assert too_early.status_code == 422


async def test_the_payoff_quote_includes_the_late_fees_the_ledger_will_assess_by_its_date(asgi_client, admin,
                                                                                          tenant, borrower_id):
    # given oracle A with a late fee of 25.00 after 10 days of grace (installment 1 due 2024-02-15, so its fee falls
    # on 02-26), unpaid, the ledger having accrued through 02-25
    async with asgi_client as client:
        _, loan = await active_loan(client, admin, borrower_id=borrower_id,
                                    late_fee={"amount": "25.00", "grace_days": 10})
        await sync_to_async(deliver)(tenant, BALANCE, changed(
            loan["id"], 4, "10000.00", "133.33", dpd=10, last_accrual_date="2024-02-25", accrual_since="2024-01-15",
            interest_accrued_since="133.33", oldest_unpaid_due="2024-02-15"))
        url = f"{API}/loans/{loan['id']}/payoff-quote"
        on_the_25th = (await client.get(f"{url}?as_of=2024-02-25", headers=admin)).json()
        on_the_26th = (await client.get(f"{url}?as_of=2024-02-26", headers=admin)).json()
        # (by 03-26 installment 2, due 03-15, is past its grace too)
        on_march_26 = (await client.get(f"{url}?as_of=2024-03-26", headers=admin)).json()
        # when the ledger reports the fee assessed (accrued through 02-26), it is in the fees balance, not added twice
        await sync_to_async(deliver)(tenant, BALANCE, changed(
            loan["id"], 5, "10000.00", "136.67", "25.00", dpd=11, last_accrual_date="2024-02-26",
            accrual_since="2024-01-15", interest_accrued_since="136.67", oldest_unpaid_due="2024-02-15"))
        reported = (await client.get(f"{url}?as_of=2024-02-26", headers=admin)).json()
        # and once installment 1 is paid (oldest unpaid: installment 2), its fee is not quoted again
        await sync_to_async(deliver)(tenant, BALANCE, changed(
            loan["id"], 6, "9248.18", "0.00", "0.00", last_accrual_date="2024-02-26", accrual_since="2024-02-26",
            interest_accrued_since="0.00", oldest_unpaid_due="2024-03-15"))
        paid = (await client.get(f"{url}?as_of=2024-03-20", headers=admin)).json()
    # then a payoff paid on the 26th meets the fee the ledger assesses first that day: the quote includes it
    assert (on_the_25th["fees"], on_the_26th["fees"], on_march_26["fees"]) == ("0.00", "25.00", "50.00")
    assert on_the_26th["total"] == "10161.67"          # 10000.00 + 136.67 + 25.00 (oracle A, 41 days of 30/360)
    assert reported == on_the_26th
    assert paid["fees"] == "0.00"


async def test_the_payoff_quote_of_a_loan_in_non_accrual_still_accrues_what_is_owed(asgi_client, admin, tenant,
                                                                                   borrower_id):
    # given a loan the ledger reports in non-accrual on 2024-04-30 with 350.00 of interest owed (suspended,
    # not income), its clock running since disbursement
    async with asgi_client as client:
        _, loan = await active_loan(client, admin, borrower_id=borrower_id)
        await sync_to_async(deliver)(tenant, BALANCE, changed(
            loan["id"], 5, "10000.00", "350.00", dpd=75, non_accrual=True, last_accrual_date="2024-04-30",
            accrual_since="2024-01-15", interest_accrued_since="350.00"))
        quote = (await client.get(f"{API}/loans/{loan['id']}/payoff-quote?as_of=2024-05-15", headers=admin)).json()
    # then the half month to 2024-05-15 is owed too: non-accrual does not forgive interest
    assert quote == {"as_of": "2024-05-15", "principal": "10000.00", "interest": "400.00", "fees": "0.00",
                     "total": "10400.00"}


async def test_accrual_run_progress_moves_forward_and_updates_balances(asgi_client, admin, tenant, borrower_id):
    # given a run and an active loan
    async with asgi_client as client:
        _, loan = await active_loan(client, admin, borrower_id=borrower_id)
        run = (await client.post(f"{API}/accrual-runs", headers=admin, json={"through": "2024-01-31"})).json()
        deliver_ = sync_to_async(deliver)
        account = {"loan_id": loan["id"], "sequence": 2, "balances": balances("10000.00", "53.33"),
                   "last_accrual_date": "2024-01-31", "accrued": "53.33"}
        progress = {"run_id": run["id"], "through": "2024-01-31", "accounts_total": 2}
        # when chunk 2 (completed) arrives before chunk 1 (running)
        await deliver_(tenant, "ledger.accrual_run.progressed.v1",
                       {**progress, "status": "completed", "accounts_done": 2, "accounts": [account]})
        await deliver_(tenant, "ledger.accrual_run.progressed.v1", {
            **progress, "status": "running", "accounts_done": 1,
            "accounts": [{**account, "sequence": 1, "balances": balances("10000.00", "0.00")}]})
        status = (await client.get(f"{API}/accrual-runs/{run['id']}", headers=admin)).json()
        after = await _get(client, admin, loan["id"])
        quote = (await client.get(f"{API}/loans/{loan['id']}/payoff-quote?as_of=2024-02-15", headers=admin)).json()
    # then the run stays completed and the loan keeps the newer balance
    assert status == {"id": run["id"], "status": "completed", "through": "2024-01-31", "accounts_total": 2,
                      "accounts_done": 2}
    assert after["balances"] == balances("10000.00", "53.33")
    # and the payoff counts the accrued interest once: a full month on 10000.00
    assert quote["interest"] == "100.00"


async def test_what_an_accrual_run_posted_is_one_movement_of_the_loan_listed_once(asgi_client, admin, tenant,
                                                                                  borrower_id):
    # given an active loan, and a daily run of the worker (not started through the API) that caught it up
    async with asgi_client as client:
        _, loan = await active_loan(client, admin, borrower_id=borrower_id)
        run_id = str(uuid.uuid4())
        account = {"loan_id": loan["id"], "sequence": 4, "balances": balances("10000.00", "53.33"),
                   "last_accrual_date": "2024-01-31", "accrued": "3.33", "posted": "53.33", "posted_kind": "accrual"}
        event = {"run_id": run_id, "through": "2024-01-31", "accounts_total": 1, "status": "completed",
                 "accounts_done": 1, "accounts": [account]}
        # when its progress event arrives, and again under another event id (a chunk run twice)
        await sync_to_async(deliver)(tenant, "ledger.accrual_run.progressed.v1", event)
        await sync_to_async(deliver)(tenant, "ledger.accrual_run.progressed.v1", event)
        # and runs that posted nothing for it (0.00; an older worker's entry without the field), then one in
        # non-accrual (suspended interest)
        for later, extra in (("2024-02-01", {"posted": "0.00"}), ("2024-02-02", {}),
                             ("2024-02-03", {"posted": "3.33", "posted_kind": "accrual_suspended"})):
            entry = {k: v for k, v in account.items() if k not in ("posted", "posted_kind")} | extra
            await sync_to_async(deliver)(tenant, "ledger.accrual_run.progressed.v1", event | {
                "run_id": str(uuid.uuid4()), "through": later, "accounts": [entry]})
        listed = (await client.get(f"{API}/loans/{loan['id']}/transactions", headers=admin)).json()
    # then the loan's transactions show each run's accrual once, dated the run's day, and nothing for the others
    accruals = [t for t in listed["items"] if t["kind"].startswith("accrual")]
    assert [(t["kind"], t["effective_date"], t["amount"]) for t in accruals] == [
        ("accrual", "2024-01-31", "53.33"), ("accrual_suspended", "2024-02-03", "3.33")]
    assert (accruals[0]["breakdown"], accruals[0]["reference"]) == ({"interest": "53.33"}, f"accrual_run:{run_id}")


def test_an_event_for_an_unknown_loan_is_not_acked_silently(tenant):
    with pytest.raises(UnknownLoan):
        deliver(tenant, BALANCE, changed(str(uuid.uuid4()), 1, "1.00"))


async def test_two_consumers_at_once_list_a_re_split_payment_once(asgi_client, admin, tenant, borrower_id):
    """A rollout runs the old and the new loans consumer side by side: one lists a re-split that overtook its
    payment (derived) while the other lists the payment's record. Without the loan lock each missed the other's
    uncommitted row and the payment was listed twice."""
    import threading

    from common.bus.catalogue import TransactionPosted
    from common.tenancy import tenant_context
    from django.db import connection, transaction
    from loans.projection import transaction_posted_apply

    payment_id = str(uuid.uuid4())
    applied, release, done = threading.Event(), threading.Event(), threading.Event()

    def consumer(payload, hold: bool) -> None:
        try:
            with tenant_context(tenant), transaction.atomic():
                transaction_posted_apply(payload=payload)
                applied.set()
                if hold:
                    release.wait(10)       # the first consumer's transaction is still open
        finally:
            if not hold:
                done.set()
            connection.close()

    def race(loan_id: str) -> bool:
        common = {"loan_id": loan_id, "effective_date": "2024-03-15", "amount": "888.49", "reference": payment_id}
        resplit = TransactionPosted(sequence=6, transaction_id="je-91", kind="reallocation",
                                    breakdown={"interest": "92.12", "principal": "796.37"}, **common)
        record = TransactionPosted(sequence=3, transaction_id="je-77", kind="payment",
                                   breakdown={"interest": "200.00", "principal": "688.49"}, **common)
        first = threading.Thread(target=consumer, args=(resplit, True))
        first.start()
        assert applied.wait(10)
        second = threading.Thread(target=consumer, args=(record, False))
        second.start()
        waited = not done.wait(1.0)    # the second waits for the first's commit (the loan's lock)
        release.set()
        first.join(10)
        second.join(10)
        return waited

    async with asgi_client as client:
        _, loan = await active_loan(client, admin, borrower_id=borrower_id)
        waited = await sync_to_async(race, thread_sensitive=False)(loan["id"])
        listed = await _get(client, admin, loan["id"], "/transactions")
    # then the second consumer took the derived row over: the payment is listed once, with the newest split
    payments = [t for t in listed["items"] if t["reference"] == payment_id]
    assert waited
    assert [(t["kind"], t["transaction_id"], t["breakdown"]["interest"]) for t in payments] == [
        ("payment", "je-77", "92.12")]
