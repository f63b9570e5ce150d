"""Cash after a charge-off or a write-off (Fineract's recovery repayments): it is never parked in borrower suspense.

The loan: 10,000.00 at 12%, 30/360, 12 monthly installments of 888.49 from 2024-02-15, nothing paid, charged off on
2024-04-30 with 350.00 of interest accrued (non-accrual at 90 days, so still income here) and fees of 0.

- Charged off: the loan is fully reserved (provision / allowance) but still on the books. A collection pays its
  balances in the allocation order, and the allowance held for the principal it collects is released.
- Written off: the balances are off the books (a memo of what was written off is kept). Cash pays that memo in the
  allocation order and is recoveries income; only what exceeds it is the borrower's (suspense).
- A returned collection or recovery is undone exactly, journal included.
"""

import functools
import uuid
from decimal import Decimal

import pytest
from common.tenancy import tenant_context
from ledger import services
from ledger.models import Allocation, JournalLine
from tests.factories import account_of, disbursed_event, gl_sums, in_tenant

pytestmark = pytest.mark.django_db(transaction=True)
T = "recoveries"


atomic = functools.partial(in_tenant, tenant=T)


account = functools.partial(account_of, tenant=T)


def gl(loan_id) -> dict[str, Decimal]:
    return gl_sums(JournalLine.objects.filter(entry__account=account(loan_id)))


def pay(loan_id, amount, value_date, payment_id=None) -> Allocation:
    return atomic(services.payment_allocate, payment_id=payment_id or str(uuid.uuid4()), loan_id=loan_id,
                  amount=amount, currency="USD", value_date=value_date)


def charged_off():
    e = disbursed_event()
    atomic(services.account_open, event=e)
    atomic(services.account_accrue, loan_id=e.loan_id, through="2024-04-30")
    atomic(services.account_charge_off, loan_id=e.loan_id, as_of="2024-04-30")
    return e.loan_id


def test_a_collection_after_charge_off_pays_the_balances_and_releases_the_allowance():
    # given a charged-off loan (fully reserved: allowance -10,000.00)
    loan = charged_off()
    assert gl(loan)["allowance_for_losses"] == Decimal("-10000.00")
    # when 1,000.00 is collected
    collected = pay(loan, "1000.00", "2024-05-10")
    # then it pays interest then principal, nothing goes to suspense, and the allowance for 650.00 is released
    a = account(loan)
    assert (collected.stage, collected.interest, collected.principal, collected.overpayment) == \
        ("charged_off", Decimal("350.00"), Decimal("650.00"), 0)
    assert (a.status, a.principal, a.interest, a.suspense) == ("charged_off", Decimal("9350.00"), 0, 0)
    ledger = gl(loan)
    assert ledger["loans_receivable"] == Decimal("9350.00") and "borrower_suspense" not in ledger
    assert ledger["allowance_for_losses"] == Decimal("-9350.00")
    assert ledger["provision_for_losses"] == Decimal("9350.00")
    assert sum(ledger.values()) == 0


def test_a_recovery_after_write_off_is_income_and_pays_what_was_written_off():
    # given a charged-off loan written off: 10,000.00 principal and 350.00 interest off the books
    loan = charged_off()
    atomic(services.account_write_off, loan_id=loan, as_of="2024-06-30")
    a = account(loan)
    assert (a.written_off_principal, a.written_off_interest, a.written_off_fees) == \
        (Decimal("10000.00"), Decimal("350.00"), 0)
    # when 500.00 is recovered, and later 10,000.00 (more than is left)
    first = pay(loan, "500.00", "2024-07-10")
    second = pay(loan, "10000.00", "2024-08-10")
    # then each pays the written-off interest, then principal, as recoveries income; only the excess is the
    # borrower's
    assert (first.stage, first.interest, first.principal, first.overpayment) == \
        ("written_off", Decimal("350.00"), Decimal("150.00"), 0)
    assert (second.principal, second.overpayment) == (Decimal("9850.00"), Decimal("150.00"))
    a = account(loan)
    assert (a.written_off_principal, a.written_off_interest, a.principal, a.suspense) == (0, 0, 0, Decimal("150.00"))
    ledger = gl(loan)
    assert ledger["recoveries"] == Decimal("-10350.00")
    assert ledger["borrower_suspense"] == Decimal("-150.00")
    assert "loans_receivable" not in ledger and sum(ledger.values()) == 0


def test_a_collection_leaves_the_charged_off_loan_aged_as_it_was():
    # given a loan charged off 150 days past due (installment 1 due 2024-02-15)
    e = disbursed_event()
    atomic(services.account_open, event=e)
    atomic(services.account_charge_off, loan_id=e.loan_id, as_of="2024-07-14")
    before = account(e.loan_id)
    assert (before.days_past_due, before.bucket) == (150, "dpd_120_plus")
    # when 10.00 is collected, then it is still 150 days past due, not "current"
    pay(e.loan_id, "10.00", "2024-07-20")
    after = account(e.loan_id)
    assert (after.days_past_due, after.bucket) == (150, "dpd_120_plus")


def charged_off_with_a_fee():
    """Charged off with an origination fee of 100.00 still owed (a collection pays it first)."""
    e = disbursed_event(origination_fee="100.00")
    atomic(services.account_open, event=e)
    atomic(services.account_accrue, loan_id=e.loan_id, through="2024-04-30")
    atomic(services.account_charge_off, loan_id=e.loan_id, as_of="2024-04-30")
    return e.loan_id


STATE = ("principal", "interest", "interest_suspended", "fees", "suspense", "written_off_principal",
         "written_off_interest", "written_off_fees", "status", "paid_toward_schedule", "scheduled_fees_paid",
         "interest_since", "interest_posted_since", "days_past_due", "bucket", "oldest_unpaid_due")


@pytest.mark.parametrize("stage", ["charged_off", "written_off"])
def test_a_returned_collection_or_recovery_is_undone_exactly(stage):
    # given a charged-off (or also written-off) loan owing a fee, and its state and journal before a payment
    loan = charged_off_with_a_fee()
    if stage == "written_off":
        atomic(services.account_write_off, loan_id=loan, as_of="2024-06-30")
    before, ledger_before = account(loan), gl(loan)
    # when a payment (fee, interest, then principal) is applied and then returned (NSF)
    payment_id = str(uuid.uuid4())
    applied = pay(loan, "1000.00", "2024-07-10", payment_id=payment_id)
    assert applied.fees == Decimal("100.00")
    reversed_ = atomic(services.payment_reverse, payment_id=payment_id, reason="R01")
    # then every balance, memo, clock and general-ledger account is back where it was
    after = account(loan)
    assert reversed_.reversed and reversed_.stage == stage
    assert [getattr(after, f) for f in STATE] == [getattr(before, f) for f in STATE]
    assert gl(loan) == ledger_before
    assert after.sequence > before.sequence


def test_a_collection_returned_after_the_write_off_is_written_off_again():
    # given two identical charged-off loans; one collects 1,000.00 before both are written off
    loan, twin = charged_off_with_a_fee(), charged_off_with_a_fee()
    payment_id = str(uuid.uuid4())
    pay(loan, "1000.00", "2024-05-10", payment_id=payment_id)
    for loan_id in (loan, twin):
        atomic(services.account_write_off, loan_id=loan_id, as_of="2024-06-30")
    # when the collection is returned after the write-off
    atomic(services.payment_reverse, payment_id=payment_id, reason="R01")
    # then the loan is where its twin is: the same amounts recoverable and every general-ledger account equal
    # (the collection's cash reversed, its income and allowance release undone, what it paid written off again)
    memo = ("written_off_principal", "written_off_interest", "written_off_fees", "principal", "interest", "fees")
    assert [getattr(account(loan), f) for f in memo] == [getattr(account(twin), f) for f in memo]
    assert gl(loan) == gl(twin)


def _late_fee_loan():
    """A loan with a 25.00 late fee and a 25.00 NSF fee, opened (the twins below)."""
    e = disbursed_event(late_fee="25.00", nsf_fee="25.00")
    atomic(services.account_open, event=e)
    return e.loan_id


@pytest.mark.parametrize("written_off", [False, True])
def test_a_payment_returned_after_the_charge_off_is_taken_out_of_the_open_history(written_off):
    """An ACH return can arrive weeks later: a payment applied while the loan was open and returned after the
    charge-off (or after the write-off) leaves the loan exactly where a twin that never received it is."""
    from common.bus.models import OutboxMessage

    # given two identical loans; one pays installment 1 on its due date, the other never does
    loan, twin = _late_fee_loan(), _late_fee_loan()
    returned = str(uuid.uuid4())
    pay(loan, "888.49", "2024-02-15", payment_id=returned)
    # both age (late fees; the twin enters non-accrual first), are charged off on 2024-06-30, collect 1,000.00
    # (and are written off and recover 300.00)
    for loan_id in (loan, twin):
        atomic(services.account_accrue, loan_id=loan_id, through="2024-06-30")
        atomic(services.account_charge_off, loan_id=loan_id, as_of="2024-06-30")
        pay(loan_id, "1000.00", "2024-07-10")
        if written_off:
            atomic(services.account_write_off, loan_id=loan_id, as_of="2024-08-31")
            pay(loan_id, "300.00", "2024-09-10")
    # (the payment made a difference: the loan is not its twin yet)
    assert [getattr(account(loan), f) for f in STATE] != [getattr(account(twin), f) for f in STATE]
    before = set(OutboxMessage.objects.values_list("id", flat=True))
    # when the first loan's open-stage payment is returned after the charge-off
    reversed_ = atomic(services.payment_reverse, payment_id=returned, reason="R01")
    # then it is reversed (not dead-lettered), no NSF fee is charged on a charged-off loan, and every balance,
    # memo, clock, the later payments' splits and every general-ledger account equal the twin's
    assert reversed_.reversed and reversed_.stage == "open"
    assert [getattr(account(loan), f) for f in STATE] == [getattr(account(twin), f) for f in STATE]
    with tenant_context(T):
        splits = [[(a.stage, a.fees, a.interest, a.interest_suspended, a.principal, a.overpayment)
                   for a in Allocation.objects.filter(account=account(loan_id), reversed=False).order_by("arrival")]
                  for loan_id in (loan, twin)]
    assert splits[0] == splits[1]
    assert gl(loan) == gl(twin) and sum(gl(loan).values()) == 0
    # and the loans service hears of the larger charge-off: the principal the payment had paid (888.49 less a
    # month's interest of 100.00)
    charged = [m.body["payload"] for m in OutboxMessage.objects.exclude(id__in=before)
               if m.body["payload"].get("kind") == "charge_off"]
    assert [(p["amount"], p["reference"]) for p in charged] == [("788.49", "reprocess:reversal")]


def test_a_returned_payment_on_an_account_charged_off_with_legacy_cash_in_suspense_is_refused():
    """Before ledger migration 0008 cash received while charged off was applied as if the loan were open and parked
    in suspense; replaying such a history would restate it, so a return is left to an operator (dead-letter)."""
    from ledger.errors import AccountClosed

    loan = _late_fee_loan()
    returned = str(uuid.uuid4())
    pay(loan, "888.49", "2024-02-15", payment_id=returned)
    atomic(services.account_charge_off, loan_id=loan, as_of="2024-06-30")
    late = pay(loan, "50.00", "2024-07-10")
    with tenant_context(T):
        Allocation.objects.filter(pk=late.pk).update(stage="open")    # as migration 0008 left such cash
    with pytest.raises(AccountClosed):
        atomic(services.payment_reverse, payment_id=returned, reason="R01")


def test_the_migration_gives_charged_off_accounts_their_charge_off_day():
    """Accounts charged off before migration 0010 get the day a replay charges them off: the later of the
    charge-off's as-of date and the last day accrued (here the account was accrued past a back-dated charge-off)."""
    import importlib

    from django.db import connection
    from ledger.models import Account

    loan, back_dated = charged_off(), _late_fee_loan()
    atomic(services.account_accrue, loan_id=back_dated, through="2024-05-20")
    atomic(services.account_charge_off, loan_id=back_dated, as_of="2024-05-10")
    expected = {loan: account(loan).charged_off_on, back_dated: account(back_dated).charged_off_on}
    assert [str(d) for d in expected.values()] == ["2024-04-30", "2024-05-20"]
    with tenant_context(T):
        Account.objects.filter(loan_id__in=expected).update(charged_off_on=None)
    with connection.cursor() as cursor:
        cursor.execute(importlib.import_module("ledger.migrations.0010_account_charged_off_on").CHARGED_OFF_ON_BACKFILL)
    assert {k: account(k).charged_off_on for k in expected} == expected
