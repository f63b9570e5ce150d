"""Allocation edge cases through the services: back-dated payments, reversals, late fees, concurrency."""

import functools
import threading
import uuid
from datetime import date
from decimal import Decimal

import pytest
from common.tenancy import tenant_context
from django.db import IntegrityError, connection, connections, transaction
from ledger import services
from ledger.errors import AccountNotOpen
from ledger.models import Accrual, Allocation, Fee, JournalLine
from tests.factories import account_of, disbursed_event, gl_sums, in_tenant

pytestmark = pytest.mark.django_db(transaction=True)
T = "acme"


atomic = functools.partial(in_tenant, tenant=T)


account = functools.partial(account_of, tenant=T)


def state(loan_id):
    a = account(loan_id)
    with tenant_context(T):
        accruals = sorted(Accrual.objects.filter(account=a, reversed=False).values_list("accrual_date", "amount"))
        fees = sorted(Fee.objects.filter(account=a, reversed=False).values_list("kind", "installment_number", "amount"))
    return ((a.principal, a.interest, a.fees, a.suspense, a.interest_since, a.interest_posted_since,
             a.last_accrual_date, a.paid_toward_schedule, a.status, a.days_past_due, a.bucket), accruals, fees)


def gl_balances(loan_id):
    return gl_sums(JournalLine.objects.filter(entry__account=account(loan_id)))


def pay(loan_id, amount, value_date, payment_id=None, currency="USD"):
    return atomic(services.payment_allocate, payment_id=payment_id or str(uuid.uuid4()), loan_id=loan_id,
                  amount=amount, currency=currency, value_date=value_date)


def test_a_back_dated_payment_ends_exactly_where_the_on_time_path_ends():
    # given two identical loans with a late fee
    on_time, late = (disbursed_event(late_fee="25.00", grace_days=5) for _ in range(2))
    for e in (on_time, late):
        atomic(services.account_open, event=e)
    # when: one pays on 2024-02-15 and is accrued to 2024-03-10; the other is accrued to 2024-03-10 first
    # (a late fee gets assessed on 2024-02-21) and then receives the same payment dated 2024-02-15
    pay(on_time.loan_id, "888.49", "2024-02-15")
    atomic(services.account_accrue, loan_id=on_time.loan_id, through="2024-03-10")
    atomic(services.account_accrue, loan_id=late.loan_id, through="2024-03-10")
    assert account(late.loan_id).fees == Decimal("25")
    allocation = pay(late.loan_id, "888.49", "2024-02-15")
    # then
    assert (allocation.interest, allocation.principal) == (Decimal("100.00"), Decimal("788.49"))
    assert state(late.loan_id) == state(on_time.loan_id)
    assert gl_balances(late.loan_id) == gl_balances(on_time.loan_id)
    a = account(late.loan_id)
    assert a.principal + a.interest + a.fees == gl_balances(late.loan_id)["loans_receivable"] + \
        gl_balances(late.loan_id).get("interest_receivable", 0) + gl_balances(late.loan_id).get("fees_receivable", 0)


def test_a_reversal_restores_balances_to_the_cent_and_charges_the_nsf_fee():
    # given
    e = disbursed_event(nsf_fee="30.00")
    atomic(services.account_open, event=e)
    atomic(services.account_accrue, loan_id=e.loan_id, through="2024-02-15")
    before = account(e.loan_id)
    payment_id = str(uuid.uuid4())
    pay(e.loan_id, "888.49", "2024-02-15", payment_id)
    # when
    reversed_ = atomic(services.payment_reverse, payment_id=payment_id, reason="NSF")
    again = atomic(services.payment_reverse, payment_id=payment_id, reason="NSF")
    # then
    after = account(e.loan_id)
    assert reversed_.reversed and again.reversed
    assert (after.principal, after.interest, after.fees) == (before.principal, before.interest,
                                                             before.fees + Decimal("30.00"))
    assert (after.interest_since, after.interest_posted_since) == (before.interest_since, before.interest_posted_since)
    assert Fee.objects.filter(account=after, kind="nsf_fee").count() == 1
    assert gl_balances(e.loan_id) == {"loans_receivable": Decimal("10000"), "interest_receivable": Decimal("100"),
                                      "fees_receivable": Decimal("30"), "cash_clearing": Decimal("-10000"),
                                      "interest_income": Decimal("-100"), "fee_income": Decimal("-30")}


def test_a_missed_installment_gets_one_late_fee_after_the_grace_days_and_days_past_due():
    # given
    e = disbursed_event(late_fee="25.00", grace_days=10)
    atomic(services.account_open, event=e)
    # when / then: due 2024-02-15, grace 10 -> charged on 2024-02-26, not before
    atomic(services.account_accrue, loan_id=e.loan_id, through="2024-02-25")
    a = account(e.loan_id)
    assert (a.fees, a.days_past_due, a.bucket) == (0, 10, "dpd_1_29")
    atomic(services.account_accrue, loan_id=e.loan_id, through="2024-02-26")
    atomic(services.account_accrue, loan_id=e.loan_id, through="2024-03-20")
    a = account(e.loan_id)
    assert (a.fees, a.days_past_due, a.bucket) == (Decimal("25.00"), 34, "dpd_30_59")  # installment 2 not yet
    fees = list(Fee.objects.filter(account=a).order_by("installment_number").values_list(
        "installment_number", "assessed_on"))
    assert fees == [(1, date(2024, 2, 26))]
    # paying the arrears brings the loan current; the late fee is paid first (fees -> interest -> principal)
    pay(e.loan_id, "2000.00", "2024-03-20")
    a = account(e.loan_id)
    assert (a.days_past_due, a.bucket, a.fees) == (0, "current", 0)


def test_a_payment_for_an_account_not_open_yet_is_a_retryable_error():
    with pytest.raises(AccountNotOpen):
        pay(str(uuid.uuid4()), "10.00", "2024-02-15")


def test_the_database_refuses_an_unbalanced_entry_and_changes_to_posted_lines():
    e = disbursed_event()
    atomic(services.account_open, event=e)
    line = JournalLine.objects.first()
    with pytest.raises(Exception, match="immutable"), transaction.atomic():
        JournalLine.objects.filter(pk=line.pk).update(debit=line.debit + 1)
    from ledger.models import JournalEntry

    with pytest.raises(IntegrityError, match="does not balance"):
        with tenant_context(T), transaction.atomic():
            entry = JournalEntry.objects.create(kind="test", effective_date=date(2024, 1, 1))
            JournalLine.objects.create(entry=entry, gl_account="cash_clearing", debit=Decimal("1"))


def test_two_hundred_concurrent_allocations_on_one_account_end_exact():
    # given
    e = disbursed_event()
    atomic(services.account_open, event=e)
    errors = []

    def worker(i):
        try:
            pay(e.loan_id, "10.00", "2024-01-20", f"00000000-0000-0000-0001-{i:012d}")
            pay(e.loan_id, "10.00", "2024-01-20", f"00000000-0000-0000-0001-{i:012d}")   # a duplicate delivery
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connections.close_all()

    # when: 200 payments from 16 threads at once (bounded by the server's connection limit)
    barrier = threading.Barrier(16)

    def run(indexes):
        barrier.wait()
        for i in indexes:
            worker(i)

    threads = [threading.Thread(target=run, args=(range(k, 200, 16),)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # then: 2000.00 paid once each; 5 days of interest on 10000.00 first, then principal
    assert errors == []
    a = account(e.loan_id)
    assert Allocation.all_tenants.filter(account=a).count() == 200
    interest = Decimal("16.67")  # round(10000 * 0.12 * 5/360)
    assert a.interest == 0
    assert a.principal == Decimal("10000.00") - (Decimal("2000.00") - interest)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM (SELECT entry_id FROM ledger_journal_line GROUP BY entry_id "
                       "HAVING sum(debit) <> sum(credit)) u")
        assert cursor.fetchone()[0] == 0


def test_a_back_dated_payment_re_splits_a_later_one_and_announces_its_new_split():
    from common.bus.models import OutboxMessage

    # given installment 2's amount paid on its due date with installment 1 unpaid: 200.00 of interest first
    e = disbursed_event()
    atomic(services.account_open, event=e)
    later = str(uuid.uuid4())
    assert pay(e.loan_id, "888.49", "2024-03-15", later).interest == Decimal("200.00")
    before = set(OutboxMessage.objects.values_list("id", flat=True))
    # when installment 1's payment arrives, dated 2024-02-15
    pay(e.loan_id, "888.49", "2024-02-15")
    # then the later payment is split as if it had arrived after it (the schedule's installment 2), and the
    # ledger says so with the account's newer sequence
    with tenant_context(T):
        split = Allocation.objects.get(payment_id=later)
    assert (split.interest, split.principal) == (Decimal("92.12"), Decimal("796.37"))
    announced = [m.body["payload"] for m in OutboxMessage.objects.exclude(id__in=before)
                 .filter(name="ledger.payment.allocated.v1") if m.body["payload"]["payment_id"] == later]
    assert len(announced) == 1
    assert (announced[0]["interest"], announced[0]["principal"], announced[0]["reallocated"]) == ("92.12", "796.37", True)
    assert announced[0]["sequence"] == account(e.loan_id).sequence


def test_returning_an_earlier_payment_re_splits_a_later_one_and_announces_it_to_both_services():
    from common.bus.models import OutboxMessage

    e = disbursed_event()
    atomic(services.account_open, event=e)
    earlier, later = str(uuid.uuid4()), str(uuid.uuid4())
    pay(e.loan_id, "888.49", "2024-02-15", earlier)
    assert pay(e.loan_id, "888.49", "2024-03-15", later).interest == Decimal("92.12")
    before = set(OutboxMessage.objects.values_list("id", flat=True))
    # when the earlier payment is returned
    atomic(services.payment_reverse, payment_id=earlier, reason="NSF")
    # then the later one pays two months of interest first, and both the payments service (allocated, newer
    # sequence) and the loan's transaction list (reallocation of that payment) are told its new split
    fresh = [m.body["payload"] for m in OutboxMessage.objects.exclude(id__in=before)]
    allocated = [p for p in fresh if p.get("payment_id") == later]
    listed = [p for p in fresh if p.get("kind") == "reallocation"]
    assert [(p["interest"], p["principal"], p["reallocated"]) for p in allocated] == [("200.00", "688.49", True)]
    assert [(p["reference"], p["breakdown"]["interest"], p["breakdown"]["principal"]) for p in listed] == [
        (later, "200.00", "688.49")]
