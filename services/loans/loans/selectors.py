"""Reads of the loans service: lazy QuerySets scoped to the tenant (the default manager fails closed)
and narrowed to what the principal may see (guardian grants; admins and services see the tenant)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from types import SimpleNamespace
from uuid import UUID

from common import adb
from common.auth import Principal
from common.db import run_sync
from common.errors import Conflict, NotFound, Unprocessable
from common.finance import FlatInterest, payoff_quote
from common.finance.schedule import FLAT
from common.money import format_amount
from common.permissions import ahas_object_perm, avisible, grant_sql
from django.db.models import QuerySet

from loans.errors import MESSAGES, LoanError
from loans.models import AccrualRun, Loan, LoanStatus, LoanTransaction, Product, ScheduleInstallment


def product_list(*, filters: dict | None = None) -> QuerySet[Product]:
    qs = Product.objects.all()
    if (filters or {}).get("currency"):
        qs = qs.filter(currency=filters["currency"].upper())
    return qs.order_by("created_at", "id")


async def product_get(*, product_id: UUID) -> Product:
    try:
        return await run_sync(Product.objects.get, id=product_id)
    except Product.DoesNotExist:
        raise NotFound(MESSAGES[LoanError.PRODUCT_NOT_FOUND], code=LoanError.PRODUCT_NOT_FOUND.value) from None


async def loan_list(*, principal: Principal, filters: dict | None = None) -> QuerySet[Loan]:
    qs = await avisible(principal, Loan.objects.select_related("product"))
    filters = filters or {}
    if filters.get("borrower_id"):
        qs = qs.filter(borrower_id=filters["borrower_id"])
    if filters.get("status"):
        qs = qs.filter(status=filters["status"])
    if filters.get("product_id"):
        qs = qs.filter(product_id=filters["product_id"])
    return qs.order_by("-created_at", "id")


async def loan_get(*, principal: Principal, loan_id: UUID, perm: str = "view") -> Loan:
    """The loan if the principal may ``perm`` it; another tenant's loan or one without a grant is a 404."""
    not_found = NotFound(MESSAGES[LoanError.LOAN_NOT_FOUND], code=LoanError.LOAN_NOT_FOUND.value)
    try:
        loan = await run_sync(Loan.objects.select_related("product").get, id=loan_id)
    except Loan.DoesNotExist:
        raise not_found from None
    if not await ahas_object_perm(principal, loan, perm):
        raise not_found
    return loan


class LoanRow(SimpleNamespace):
    """A loan read by ``loan_read``: the model's columns as attributes, ``product.rounding_places`` — what
    ``presenters.loan_out`` reads (no model instance is built)."""


_LOAN_COLUMNS = ", ".join(f"l.{f.column}" for f in Loan._meta.concrete_fields)

LOAN_READ_SQL = f"""
SELECT {_LOAN_COLUMNS}, p.rounding_places AS product_rounding_places
  FROM {Loan._meta.db_table} l JOIN {Product._meta.db_table} p ON p.id = l.product_id
 WHERE l.tenant_id = %(tenant)s AND l.id = %(loan_id)s AND {{grant}}
"""


async def loan_read(*, principal: Principal, loan_id: UUID) -> LoanRow:
    """``GET /loans/{id}``: the loan if the principal may view it, else 404 — the same answer as
    ``loan_get``, from one statement on the event loop (``common.adb``): tenant, loan, product and the
    guardian grant check together, no thread hop, a pooled connection."""
    grant, grant_params = grant_sql(principal, Loan, "l.id")
    row = await adb.fetch_one(LOAN_READ_SQL.format(grant=grant), {"loan_id": loan_id, **grant_params})
    if row is None:
        raise NotFound(MESSAGES[LoanError.LOAN_NOT_FOUND], code=LoanError.LOAN_NOT_FOUND.value)
    rounding_places = row.pop("product_rounding_places")
    return LoanRow(**row, product=SimpleNamespace(rounding_places=rounding_places))


def schedule_rows(*, loan: Loan) -> QuerySet[ScheduleInstallment]:
    return ScheduleInstallment.objects.filter(loan=loan).order_by("number")


def transaction_list(*, loan: Loan, filters: dict | None = None) -> QuerySet[LoanTransaction]:
    qs = LoanTransaction.objects.filter(loan=loan)
    if (filters or {}).get("kind"):
        qs = qs.filter(kind=filters["kind"])
    return qs.order_by("effective_date", "sequence", "created_at")


async def accrual_run_get(*, run_id: UUID) -> AccrualRun:
    try:
        return await run_sync(AccrualRun.objects.get, id=run_id)
    except AccrualRun.DoesNotExist:
        raise NotFound(MESSAGES[LoanError.ACCRUAL_RUN_NOT_FOUND], code=LoanError.ACCRUAL_RUN_NOT_FOUND.value) from None


async def _late_fees_due_by(loan: Loan, as_of: date) -> Decimal:
    """The late fees the ledger will assess when it brings the loan up to ``as_of`` — before it applies a payoff
    paid that day — and has not yet: one per installment still unpaid (the oldest the ledger reported unpaid and
    every later one) whose grace ends after the day the ledger accrued to and by ``as_of``. The ledger's own rule
    (``ledger.engine``: a fee on due date + grace + 1, once per installment, while the loan is open)."""
    product = loan.product
    if product.late_fee_amount <= 0 or loan.oldest_unpaid_due is None:
        return Decimal(0)
    assessed_through = loan.last_accrual_date or loan.disbursement_date
    grace = timedelta(days=product.grace_days + 1)
    due = [row.due_date async for row in ScheduleInstallment.objects.filter(
        loan=loan, due_date__gte=loan.oldest_unpaid_due,
        due_date__gt=assessed_through - grace, due_date__lte=as_of - grace).only("due_date")]
    return product.late_fee_amount * len(due)


async def loan_payoff_quote(*, loan: Loan, as_of: date) -> dict:
    """The payoff quote from the projection: balances as the ledger last reported them, plus what
    ``accrue`` would post from the last balance change (the accrual clock) through ``as_of`` — for a
    flat-interest loan, what its schedule's clock earns through ``as_of`` (``common.finance.FlatInterest``,
    the ledger's own rule). Before any ledger event the clock starts at disbursement on the full principal."""
    if loan.disbursement_date is None:
        raise Conflict(MESSAGES[LoanError.NOT_DISBURSED], code=LoanError.NOT_DISBURSED.value)
    since = loan.accrual_since or loan.disbursement_date
    if as_of < since:
        raise Unprocessable("as_of must not be before the last balance change",
                            errors=[{"loc": ["query", "as_of"], "msg": f"must be on or after {since.isoformat()}"}])
    product = loan.product
    places, mode = product.rounding_places, product.rounding_mode
    if loan.status not in (LoanStatus.ACTIVE, LoanStatus.DEFAULTED):
        # charged off (or paid off, written off): the ledger accrues nothing and charges no late fee any more, so
        # the balances it reported are what settles the loan on any later day
        total = loan.balance_principal + loan.balance_interest + loan.balance_fees
        return {"as_of": as_of.isoformat(), "principal": format_amount(loan.balance_principal, places),
                "interest": format_amount(loan.balance_interest, places),
                "fees": format_amount(loan.balance_fees, places), "total": format_amount(total, places)}
    flat = None
    if product.interest_method == FLAT:
        rows = [{"number": r.number, "due_date": r.due_date, "interest": r.interest}
                async for r in schedule_rows(loan=loan)]
        flat = FlatInterest.from_schedule({"installments": rows}, disbursement_date=loan.disbursement_date,
                                          places=places, mode=mode)
    # a loan in non-accrual keeps accruing what it owes (the ledger holds it as suspended interest, not
    # income, and reports it in the interest balance): the same clock applies
    fees = loan.balance_fees + await _late_fees_due_by(loan, as_of)
    quote = payoff_quote(as_of=as_of, principal=loan.balance_principal, interest_accrued=loan.balance_interest,
                         fees=fees, annual_rate=loan.annual_rate.normalize(), day_count=product.day_count,
                         since=since, interest_posted_since=loan.interest_accrued_since,
                         places=places, mode=mode, flat=flat)
    return quote.to_dict()
