"""Writes of the loans service: keyword-only ``<entity>_<action>`` functions.

Every state change of a loan is one sync function run by ``common.db.run_atomic``: it locks the loan
row (``select_for_update``), checks the transition is legal (409 otherwise), writes, and records its
event (and ledger command) in the outbox inside the same transaction.

The creates (product, loan, accrual run) take an optional ``Idempotency-Key`` (``common.idempotency``):
they return the response document as sent (status and exact bytes), and the key's stored answer is
written in the transaction that creates the record, so a repeat gets the first answer and no copy.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from uuid import UUID

from common import commands
from common.auth import Principal
from common.bus import catalogue as ev
from common.bus.outbox import command_add, outbox_add
from common.db import run_atomic, run_sync
from common.errors import Conflict, Forbidden, NotFound, Unprocessable, UpstreamUnavailable
from common.idempotency import (
    Answer,
    Claim,
    idempotency_complete_tx,
    idempotency_owned_tx,
    idempotent,
    request_fingerprint,
    response_json,
)
from common.money import AmountError, format_amount, minor_units, parse_amount
from common.permissions import grant
from common.tenancy import require_tenant
from django.utils import timezone

from loans.engine import schedule_for, terms_for
from loans.errors import MESSAGES, LoanError
from loans.models import AccrualRun, IdempotencyRecord, Loan, LoanStatus, Product, ScheduleInstallment
from loans.presenters import loan_out, product_out
from loans.providers.borrowers import BorrowersUnavailable, borrower_exists
from loans.schemas import AccrualRunOut, LoanCreateIn, LoanOut, LoanWithScheduleOut, ProductIn, ProductOut

MAX_ANNUAL_RATE = Decimal(1)  # 100% a year: anything above is refused as a typo, not a product
ALLOCATION_BUCKETS = ("fees", "interest", "principal")


def _invalid(code: LoanError, errors: list[dict]) -> Unprocessable:
    return Unprocessable(MESSAGES[code], code=code.value, errors=errors)


def _err(loc: str, msg: str) -> dict:
    return {"loc": ["body", *loc.split(".")], "msg": msg}


def _once(*, path: str, body: dict, key: str | None, perform) -> Answer:
    """Run ``perform(claim)`` once per ``Idempotency-Key`` (every time without one)."""
    return idempotent(IdempotencyRecord, key=key, perform=perform,
                      request_hash=request_fingerprint(method="POST", path=path, body=body))


def _answer_tx(record, status: int, body: str, resource_id: UUID) -> tuple[int, str]:
    idempotency_complete_tx(record, status=status, body=body, resource_id=resource_id)
    return status, body


# --- products ------------------------------------------------------------------------------------

def _amount(raw: str, currency: str | None, loc: str, errors: list[dict]) -> Decimal:
    try:
        return parse_amount(raw, currency, positive=False)
    except AmountError as exc:
        errors.append(_err(loc, str(exc)))
        return Decimal(0)


def product_validate(data: ProductIn) -> dict:
    """The product's fields as model values, or 422 with every problem found."""
    errors: list[dict] = []
    currency = data.currency.upper()
    try:
        units = minor_units(currency)
    except AmountError as exc:
        errors.append(_err("currency", str(exc)))
        units, currency_known = 4, False
    else:
        currency_known = True
    rate = Decimal(data.annual_rate)
    if not Decimal(0) <= rate <= MAX_ANNUAL_RATE:
        errors.append(_err("annual_rate", f"annual_rate is a fraction between 0 and {MAX_ANNUAL_RATE}"))
    elif -rate.as_tuple().exponent > 8:
        errors.append(_err("annual_rate", "annual_rate allows at most 8 decimal places"))
    if data.term_min > data.term_max:
        errors.append(_err("term_max", "term_min must not exceed term_max"))
    if currency_known and data.rounding.places != units:
        # Money is rounded to the currency's minor unit (DOMAIN.md): payments, fees and every balance are amounts
        # of the currency, so a product rounding to fewer places could not take a payment of 100.50 USD.
        errors.append(_err("rounding.places", f"{currency} has {units} decimal places; rounding must use exactly "
                                              f"{units}"))
    elif data.rounding.places > units:
        errors.append(_err("rounding.places", f"{currency} has {units} decimal places; rounding cannot use more"))
    if sorted(data.allocation_order) != sorted(ALLOCATION_BUCKETS) or len(data.allocation_order) != 3:
        errors.append(_err("allocation_order", "must be a permutation of fees, interest, principal"))
    fee = data.origination_fee
    if fee.type == "flat":
        fee_value = _amount(fee.value, currency if currency_known else None, "origination_fee.value", errors)
    else:
        fee_value = Decimal(fee.value)
        if not Decimal(0) <= fee_value <= Decimal(100) or -fee_value.as_tuple().exponent > 4:
            errors.append(_err("origination_fee.value", "a percent fee is 0 to 100 percent points, 4 decimals at most"))
    late_fee = _amount(data.late_fee.amount, currency if currency_known else None, "late_fee.amount", errors)
    nsf_fee = _amount(data.nsf_fee, currency if currency_known else None, "nsf_fee", errors)
    tolerance = _amount(data.arrears_tolerance, currency if currency_known else None, "arrears_tolerance", errors)
    if errors:
        raise _invalid(LoanError.INVALID_PRODUCT, errors)
    return {
        "name": data.name, "currency": currency, "annual_rate": rate, "term_min": data.term_min,
        "term_max": data.term_max, "frequency": data.frequency, "interest_method": data.interest_method,
        "amortization": data.amortization, "day_count": data.day_count, "rounding_mode": data.rounding.mode,
        "rounding_places": data.rounding.places, "origination_fee_type": fee.type, "origination_fee_value": fee_value,
        "late_fee_amount": late_fee, "grace_days": data.late_fee.grace_days,
        "default_after_days": data.default_after_days, "non_accrual_after_days": data.non_accrual_after_days,
        "nsf_fee": nsf_fee, "four_eyes": data.four_eyes, "allocation_order": list(data.allocation_order),
        "arrears_tolerance": tolerance,
    }


def _product_create_tx(*, claim: Claim | None, principal: Principal, fields: dict) -> tuple[int, str]:
    record = idempotency_owned_tx(claim)
    product = Product.objects.create(created_by=principal.subject, **fields)
    product = Product.objects.get(pk=product.pk)       # as stored, so the answer equals a later GET
    return _answer_tx(record, 201, response_json(ProductOut, product_out(product)), product.id)


async def product_create(*, principal: Principal, data: ProductIn, idempotency_key: str | None = None) -> Answer:
    """A product (201 and its document); refused with every problem (422) before the key is used."""
    fields = product_validate(data)
    return await _once(path="/api/v1/products", body=data.model_dump(mode="json"), key=idempotency_key,
                       perform=lambda claim: run_atomic(_product_create_tx, claim=claim, principal=principal,
                                                        fields=fields))


# --- loan applications ---------------------------------------------------------------------------

async def _product_for_application(product_id: UUID) -> Product:
    try:
        return await run_sync(Product.objects.get, id=product_id)
    except Product.DoesNotExist:
        raise _invalid(LoanError.INVALID_LOAN, [_err("product_id", MESSAGES[LoanError.PRODUCT_NOT_FOUND])]) from None


def loan_amount_validate(product: Product, raw_principal: str, term: int) -> Decimal:
    errors: list[dict] = []
    places = min(minor_units(product.currency), product.rounding_places)
    try:
        amount = parse_amount(raw_principal, product.currency)
        if -amount.as_tuple().exponent > places:
            errors.append(_err("principal", f"this product rounds to {places} decimal places"))
    except (AmountError, InvalidOperation) as exc:
        errors.append(_err("principal", str(exc)))
        amount = Decimal(0)
    if not product.term_min <= term <= product.term_max:
        errors.append(_err("term", f"term must be between {product.term_min} and {product.term_max}"))
    if errors:
        raise _invalid(LoanError.INVALID_LOAN, errors)
    return amount


def _loan_create_tx(*, claim: Claim | None, principal: Principal, data: LoanCreateIn, product: Product,
                    amount: Decimal) -> tuple[int, str]:
    record = idempotency_owned_tx(claim)
    loan = Loan.objects.create(borrower_id=data.borrower_id, product=product, principal=amount,
                               currency=product.currency, term=data.term, annual_rate=product.annual_rate,
                               created_by=principal.subject)
    grant(loan, tenant=principal.tenant, subject=principal.subject)
    outbox_add(ev.LoanCreated(loan_id=str(loan.id), status=loan.status, borrower_id=str(loan.borrower_id),
                              product_id=str(product.id), principal=format_amount(amount, product.currency),
                              currency=product.currency, term=loan.term))
    loan = Loan.objects.select_related("product").get(pk=loan.pk)
    return _answer_tx(record, 201, response_json(LoanOut, loan_out(loan)), loan.id)


async def loan_create(*, principal: Principal, data: LoanCreateIn, idempotency_key: str | None = None) -> Answer:
    """A pending application (201 and its document), for a borrower the borrowers service knows in
    this tenant. The checks run under the key: a repeat of a completed create is answered from the
    key whatever changed since; a refusal releases the key."""

    async def perform(claim: Claim | None) -> tuple[int, str]:
        product = await _product_for_application(data.product_id)
        amount = loan_amount_validate(product, data.principal, data.term)
        try:
            exists = await borrower_exists(tenant=require_tenant(), borrower_id=data.borrower_id, on_behalf_of=principal)
        except BorrowersUnavailable:
            raise UpstreamUnavailable(MESSAGES[LoanError.BORROWERS_UNAVAILABLE],
                                      code=LoanError.BORROWERS_UNAVAILABLE.value) from None
        if not exists:
            raise _invalid(LoanError.BORROWER_NOT_FOUND,
                           [_err("borrower_id", MESSAGES[LoanError.BORROWER_NOT_FOUND])])
        return await run_atomic(_loan_create_tx, claim=claim, principal=principal, data=data, product=product,
                                amount=amount)

    return await _once(path="/api/v1/loans", body=data.model_dump(mode="json"), key=idempotency_key,
                       perform=perform)


# --- lifecycle -----------------------------------------------------------------------------------

def lock_loan(loan_id: UUID) -> Loan:
    try:
        return Loan.objects.select_for_update().select_related("product").get(id=loan_id)
    except Loan.DoesNotExist:
        raise NotFound(MESSAGES[LoanError.LOAN_NOT_FOUND], code=LoanError.LOAN_NOT_FOUND.value) from None


def guard(loan: Loan, allowed: tuple[str, ...], action: str) -> None:
    if loan.status not in allowed:
        raise Conflict(MESSAGES[LoanError.ILLEGAL_TRANSITION].format(status=loan.status, action=action),
                       code=LoanError.ILLEGAL_TRANSITION.value)


def _loan_approve_tx(*, principal: Principal, loan_id: UUID) -> Loan:
    loan = lock_loan(loan_id)
    guard(loan, (LoanStatus.PENDING,), "approved")
    if loan.product.four_eyes and loan.created_by == principal.subject:
        raise Forbidden(MESSAGES[LoanError.FOUR_EYES], code=LoanError.FOUR_EYES.value)
    loan.status, loan.approved_by, loan.approved_at = LoanStatus.APPROVED, principal.subject, timezone.now()
    loan.save()
    outbox_add(ev.LoanApproved(loan_id=str(loan.id), status=loan.status, approved_by=loan.approved_by,
                               approved_at=loan.approved_at.isoformat()))
    return loan



def _loan_deny_tx(*, principal: Principal, loan_id: UUID, reason: str) -> Loan:
    loan = lock_loan(loan_id)
    guard(loan, (LoanStatus.PENDING,), "denied")
    loan.status, loan.denied_by, loan.denied_at, loan.denial_reason = (
        LoanStatus.DENIED, principal.subject, timezone.now(), reason)
    loan.save()
    outbox_add(ev.LoanDenied(loan_id=str(loan.id), status=loan.status, denied_by=principal.subject, reason=reason))
    return loan



def _loan_cancel_tx(*, principal: Principal, loan_id: UUID, reason: str) -> Loan:
    loan = lock_loan(loan_id)
    guard(loan, (LoanStatus.PENDING, LoanStatus.APPROVED), "cancelled")
    loan.status, loan.cancelled_by, loan.cancelled_at, loan.cancellation_reason = (
        LoanStatus.CANCELLED, principal.subject, timezone.now(), reason)
    loan.save()
    outbox_add(ev.LoanCancelled(loan_id=str(loan.id), status=loan.status, cancelled_by=principal.subject))
    return loan



def _loan_disburse_tx(*, principal: Principal, loan_id: UUID, disbursement_date: date,
                      first_payment_date: date | None) -> tuple[Loan, dict]:
    loan = lock_loan(loan_id)
    guard(loan, (LoanStatus.APPROVED,), "disbursed")
    product = loan.product
    try:
        terms = terms_for(product, principal=loan.principal, term=loan.term, disbursement_date=disbursement_date,
                          first_payment_date=first_payment_date)
    except ValueError as exc:
        raise _invalid(LoanError.INVALID_LOAN, [_err("first_payment_date", str(exc))]) from None
    schedule = schedule_for(terms)
    fee = terms.fees
    loan.status, loan.disbursed_by, loan.disbursed_at = LoanStatus.ACTIVE, principal.subject, timezone.now()
    loan.disbursement_date, loan.first_payment_date = disbursement_date, terms.resolved_first_payment_date
    loan.origination_fee = fee
    # The projection until the ledger reports: what the disbursement posts (principal and origination fee).
    loan.balance_principal, loan.balance_interest, loan.balance_fees = loan.principal, Decimal(0), fee
    loan.balance_total = loan.principal + fee
    loan.accrual_since = disbursement_date
    loan.oldest_unpaid_due = schedule.installments[0].due_date if schedule.installments else None
    loan.save()
    ScheduleInstallment.objects.bulk_create([
        ScheduleInstallment(tenant_id=loan.tenant_id, loan=loan, number=i.number, due_date=i.due_date,
                            principal=i.principal, interest=i.interest, fees=i.fees, total=i.total,
                            balance_after=i.balance_after)
        for i in schedule.installments
    ])
    document = schedule.to_dict()
    places = product.rounding_places
    outbox_add(ev.LoanDisbursed(
        loan_id=str(loan.id), status=loan.status, borrower_id=str(loan.borrower_id), product_id=str(product.id),
        currency=loan.currency, principal=format_amount(loan.principal, places),
        disbursement_date=disbursement_date.isoformat(),
        first_payment_date=terms.resolved_first_payment_date.isoformat(), terms=terms.to_dict(), schedule=document,
        origination_fee=format_amount(fee, places), late_fee=format_amount(product.late_fee_amount, places),
        grace_days=product.grace_days, nsf_fee=format_amount(product.nsf_fee, places),
        default_after_days=product.default_after_days, non_accrual_after_days=product.non_accrual_after_days,
        arrears_tolerance=format_amount(product.arrears_tolerance, places),
        allocation_order=list(product.allocation_order)))
    return loan, document



def _loan_charge_off_tx(*, principal: Principal, loan_id: UUID, as_of: date, reason: str) -> Loan:
    loan = lock_loan(loan_id)
    guard(loan, (LoanStatus.DEFAULTED,), "charged off")
    loan.status, loan.charged_off_by, loan.charged_off_at, loan.charge_off_reason = (
        LoanStatus.CHARGED_OFF, principal.subject, timezone.now(), reason)
    loan.save()
    command_add(commands.CHARGE_OFF, args=[str(loan.id), as_of.isoformat()])
    outbox_add(ev.LoanChargedOff(loan_id=str(loan.id), status=loan.status, as_of=as_of.isoformat(),
                                 by=principal.subject))
    return loan



def _loan_write_off_tx(*, principal: Principal, loan_id: UUID, as_of: date, reason: str) -> Loan:
    loan = lock_loan(loan_id)
    guard(loan, (LoanStatus.CHARGED_OFF,), "written off")
    loan.status, loan.written_off_by, loan.written_off_at, loan.write_off_reason = (
        LoanStatus.WRITTEN_OFF, principal.subject, timezone.now(), reason)
    loan.save()
    command_add(commands.WRITE_OFF, args=[str(loan.id), as_of.isoformat()])
    outbox_add(ev.LoanWrittenOff(loan_id=str(loan.id), status=loan.status, as_of=as_of.isoformat(),
                                 by=principal.subject))
    return loan


# The lifecycle actions (``POST /loans/{id}/<action>``): the transaction that performs each, and the document it
# answers with. Disburse answers with the schedule.
LOAN_ACTIONS = {
    "approve": (_loan_approve_tx, LoanOut),
    "deny": (_loan_deny_tx, LoanOut),
    "cancel": (_loan_cancel_tx, LoanOut),
    "disburse": (_loan_disburse_tx, LoanWithScheduleOut),
    "charge-off": (_loan_charge_off_tx, LoanOut),
    "write-off": (_loan_write_off_tx, LoanOut),
}


def _loan_action_tx(*, claim: Claim | None, action: str, loan_id: UUID, **kwargs) -> tuple[int, str]:
    record = idempotency_owned_tx(claim)
    perform_tx, schema = LOAN_ACTIONS[action]
    result = perform_tx(loan_id=loan_id, **kwargs)
    loan, schedule = result if isinstance(result, tuple) else (result, None)
    return _answer_tx(record, 200, response_json(schema, loan_out(loan, schedule=schedule)), loan.id)


async def loan_action(*, action: str, principal: Principal, loan_id: UUID, request_body: dict,
                      idempotency_key: str | None, **kwargs) -> Answer:
    """A lifecycle action once per ``Idempotency-Key`` (API.md: writes that move money accept it). A retry of a
    completed action (a disbursement whose answer was lost, say) gets the first answer again, not a 409 for a
    loan already moved on; another body under the key is a 409; a refused action releases the key. ``kwargs``:
    the action's own arguments (reason, dates); ``request_body``: the body as sent, which the key is bound to."""

    async def perform(claim: Claim | None) -> tuple[int, str]:
        return await run_atomic(_loan_action_tx, claim=claim, action=action, principal=principal, loan_id=loan_id,
                                **kwargs)

    return await _once(path=f"/api/v1/loans/{loan_id}/{action}", body=request_body, key=idempotency_key,
                       perform=perform)


def _loan_assign_tx(*, loan_id: UUID, tenant: str, subject: str, perms: list[str]) -> None:
    loan = lock_loan(loan_id)
    grant(loan, tenant=tenant, subject=subject, perms=tuple(perms))


async def loan_assign(*, principal: Principal, loan_id: UUID, subject: str, perms: list[str]) -> None:
    await run_atomic(_loan_assign_tx, loan_id=loan_id, tenant=principal.tenant, subject=subject, perms=perms)


# --- schedule preview ----------------------------------------------------------------------------

async def schedule_preview(*, product_id: UUID, principal: str, term: int, disbursement_date: date,
                           first_payment_date: date | None) -> dict:
    product = await _product_for_application(product_id)
    amount = loan_amount_validate(product, principal, term)
    try:
        terms = terms_for(product, principal=amount, term=term, disbursement_date=disbursement_date,
                          first_payment_date=first_payment_date)
    except ValueError as exc:
        raise _invalid(LoanError.INVALID_LOAN, [_err("first_payment_date", str(exc))]) from None
    return schedule_for(terms).to_dict()


# --- accrual runs --------------------------------------------------------------------------------

def _accrual_run_create_tx(*, claim: Claim | None, principal: Principal, through: date) -> tuple[int, str]:
    record = idempotency_owned_tx(claim)
    run = AccrualRun.objects.create(through=through, requested_by=principal.subject)
    command_add(commands.ACCRUE_PORTFOLIO, args=[str(run.id), through.isoformat()])
    run = AccrualRun.objects.get(pk=run.pk)
    return _answer_tx(record, 202, response_json(AccrualRunOut, run), run.id)


async def accrual_run_create(*, principal: Principal, through: date, idempotency_key: str | None = None) -> Answer:
    """Record the run and send the worker's portfolio-accrual command in the same transaction (202);
    with a key, a repeat answers with the first run instead of starting another."""
    return await _once(path="/api/v1/accrual-runs", body={"through": through.isoformat()}, key=idempotency_key,
                       perform=lambda claim: run_atomic(_accrual_run_create_tx, claim=claim, principal=principal,
                                                        through=through))
