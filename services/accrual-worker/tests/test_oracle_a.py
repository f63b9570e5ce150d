"""Oracle A through the ledger: disburse, pay every installment on its due date."""

from datetime import date
from decimal import Decimal

import pytest
from common.bus.models import OutboxMessage
from common.tenancy import tenant_context
from django.db import connection, transaction
from ledger import services
from ledger.models import Account, Accrual, Allocation, JournalEntry, JournalLine
from tests.factories import disbursed_event

pytestmark = pytest.mark.django_db(transaction=True)


def open_account(event, tenant="acme"):
    with tenant_context(tenant), transaction.atomic():
        return services.account_open(event=event)


def pay(loan_id, amount, value_date, payment_id, tenant="acme"):
    with tenant_context(tenant), transaction.atomic():
        return services.payment_allocate(payment_id=payment_id, loan_id=loan_id, amount=amount, currency="USD",
                                         value_date=value_date)


def test_first_installment_of_oracle_a_allocates_100_interest_and_788_49_principal():
    # given
    event = disbursed_event()
    open_account(event)
    # when
    allocation = pay(event.loan_id, "888.49", "2024-02-15", "00000000-0000-0000-0000-000000000001")
    # then
    assert (allocation.interest, allocation.principal, allocation.fees, allocation.overpayment) == (
        Decimal("100.00"), Decimal("788.49"), Decimal("0"), Decimal("0"))
    with tenant_context("acme"):
        account = Account.objects.get(loan_id=event.loan_id)
    assert account.principal == Decimal("9211.51") and account.interest == 0
    names = list(OutboxMessage.objects.order_by("id").values_list("name", flat=True))
    assert names.count("ledger.payment.allocated.v1") == 1
    body = OutboxMessage.objects.get(name="ledger.payment.allocated.v1").body["payload"]
    assert (body["interest"], body["principal"], body["fees"], body["overpayment"]) == (
        "100.00", "788.49", "0.00", "0.00")
    assert body["trace"][0]["bucket"] == "fees"


def test_paying_every_installment_on_its_due_date_matches_the_schedule_and_pays_off():
    # given
    event = disbursed_event()
    open_account(event)
    # when / then
    for inst in event.schedule["installments"]:
        allocation = pay(event.loan_id, inst["total"], inst["due_date"], f"00000000-0000-0000-0000-{inst['number']:012d}")
        assert (str(allocation.interest.quantize(Decimal('0.01'))), str(allocation.principal.quantize(Decimal('0.01')))) == (
            inst["interest"], inst["principal"]), inst
        assert allocation.overpayment == 0
    with tenant_context("acme"):
        account = Account.objects.get(loan_id=event.loan_id)
        assert (account.principal, account.interest, account.fees, account.suspense) == (0, 0, 0, 0)
        assert account.status == "paid_off"
        # daily accruals of each period sum to the period's scheduled interest (no drift)
        accrued = Accrual.objects.filter(account=account, reversed=False)
        assert accrued.count() == (date(2025, 1, 15) - date(2024, 1, 15)).days
        previous = date(2024, 1, 15)
        for inst in event.schedule["installments"]:
            due = date.fromisoformat(inst["due_date"])
            period = sum(a.amount for a in accrued if previous < a.accrual_date <= due)
            assert period == Decimal(inst["interest"]), inst
            previous = due
        assert Allocation.objects.filter(account=account).count() == 12
    # the journal balances, entry by entry and in total; receivables are zero
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM (SELECT entry_id FROM ledger_journal_line GROUP BY entry_id "
                       "HAVING sum(debit) <> sum(credit)) u")
        assert cursor.fetchone()[0] == 0
    for gl in ("loans_receivable", "interest_receivable", "fees_receivable"):
        lines = JournalLine.objects.filter(gl_account=gl)
        assert sum(x.debit - x.credit for x in lines) == 0, gl
    assert JournalEntry.all_tenants.filter(kind="payment").count() == 12
