"""Test data: disbursed events built with the finance engine (as the loans service builds them)."""

from __future__ import annotations

import uuid
from decimal import Decimal

from common.bus.catalogue import LoanDisbursed
from common.finance import LoanTerms, generate_schedule


def disbursed_event(*, principal="10000.00", annual_rate="0.12", term=12, day_count="30/360",
                    disbursement_date="2024-01-15", first_payment_date="2024-02-15", frequency="monthly",
                    amortization="equal_installments", rounding_mode="half_even", places=2,
                    origination_fee="0.00", late_fee="0.00", grace_days=10, nsf_fee="0.00",
                    non_accrual_after_days=90, allocation_order=("fees", "interest", "principal"),
                    loan_id=None, currency="USD", interest_method="declining_balance",
                    arrears_tolerance="0") -> LoanDisbursed:
    terms = LoanTerms(principal=Decimal(principal), annual_rate=Decimal(annual_rate), term=term, frequency=frequency,
                      interest_method=interest_method, amortization=amortization, day_count=day_count,
                      rounding_mode=rounding_mode, rounding_places=places, disbursement_date=disbursement_date,
                      first_payment_date=first_payment_date)
    schedule = generate_schedule(terms)
    return LoanDisbursed(
        loan_id=str(loan_id or uuid.uuid4()), status="active", borrower_id=str(uuid.uuid4()),
        product_id="product-a", currency=currency, principal=principal, disbursement_date=disbursement_date,
        first_payment_date=first_payment_date or schedule.installments[0].due_date.isoformat(),
        terms=terms.to_dict(), schedule=schedule.to_dict(), origination_fee=origination_fee, late_fee=late_fee,
        grace_days=grace_days, nsf_fee=nsf_fee, default_after_days=90, non_accrual_after_days=non_accrual_after_days,
        allocation_order=list(allocation_order), arrears_tolerance=arrears_tolerance,
    )


def bulk_open(events: list[LoanDisbursed]) -> list:
    """Account and installment rows for many loans at once (no opening journal: for accrual tests)."""
    from datetime import date

    from common.tenancy import require_tenant
    from ledger.accounts import installment_rows
    from ledger.models import Account, Installment

    tenant = require_tenant()
    accounts = []
    for e in events:
        terms = LoanTerms.from_dict(e.terms)
        disbursed = date.fromisoformat(e.disbursement_date)
        accounts.append(Account(
            tenant_id=tenant, loan_id=e.loan_id, borrower_id=e.borrower_id, product_id=e.product_id,
            currency=e.currency, terms=e.terms, schedule=e.schedule, annual_rate=terms.annual_rate,
            interest_method=terms.interest_method,
            day_count=terms.day_count, rounding_mode=terms.rounding_mode, places=terms.rounding_places,
            disbursement_date=disbursed, opening_principal=Decimal(e.principal), origination_fee=Decimal(e.origination_fee),
            late_fee=Decimal(e.late_fee), grace_days=e.grace_days, nsf_fee=Decimal(e.nsf_fee),
            non_accrual_after_days=e.non_accrual_after_days, allocation_order=e.allocation_order,
            principal=Decimal(e.principal), fees=Decimal(e.origination_fee), interest_since=disbursed,
            last_accrual_date=disbursed,
            oldest_unpaid_due=min(date.fromisoformat(i["due_date"]) for i in e.schedule["installments"])))
    Account.objects.bulk_create(accounts)
    rows = [row for account, e in zip(accounts, events, strict=True) for row in installment_rows(account, e.schedule)]
    Installment.objects.bulk_create(rows, batch_size=5000)
    return accounts


def gl_sums(lines) -> dict:
    """The debit-positive balance of each general-ledger account over these journal lines (zeros dropped)."""
    from decimal import Decimal

    out: dict = {}
    for gl_account, debit, credit in lines.values_list("gl_account", "debit", "credit"):
        out[gl_account] = out.get(gl_account, Decimal(0)) + debit - credit
    return {k: v for k, v in out.items() if v}


def in_tenant(fn, tenant: str, **kwargs):
    """``fn(**kwargs)`` as ``tenant``, in one transaction (as the worker's task runs a service). A test file binds
    its own tenant: ``atomic = functools.partial(in_tenant, tenant=T)``."""
    from common.tenancy import tenant_context
    from django.db import transaction

    with tenant_context(tenant), transaction.atomic():
        return fn(**kwargs)


def account_of(loan_id, tenant: str):
    """The ledger account of a loan of ``tenant`` (``account = functools.partial(account_of, tenant=T)``)."""
    from common.tenancy import tenant_context
    from ledger.models import Account

    with tenant_context(tenant):
        return Account.objects.get(loan_id=loan_id)
