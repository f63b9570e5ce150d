"""The catalogue of integration events: versioned wire names and typed payloads.

Producers build a payload model and pass it to ``outbox_add``; consumers parse ``envelope.payload``
with ``payload_model(event_type)``. One definition for both sides; never route by class name.
Money is a decimal string; dates are ISO strings.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from common.money import DecimalString


class Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")
    # A class attribute, not a field: the wire name is never part of the payload.
    EVENT_TYPE: ClassVar[str] = ""


_REGISTRY: dict[str, type[Payload]] = {}


def event(name: str):
    def register(cls: type[Payload]) -> type[Payload]:
        if name in _REGISTRY:
            raise ValueError(f"event type {name} registered twice")
        cls.EVENT_TYPE = name
        _REGISTRY[name] = cls
        return cls

    return register


def payload_model(event_type: str) -> type[Payload]:
    return _REGISTRY[event_type]


def event_types() -> list[str]:
    return sorted(_REGISTRY)


# --- borrowers ---------------------------------------------------------------------------------

class BorrowerPayload(Payload):
    borrower_id: str
    first_name: str
    last_name: str
    email: str
    kyc_status: str
    version: int


@event("borrowers.borrower.created.v1")
class BorrowerCreated(BorrowerPayload):
    pass


@event("borrowers.borrower.updated.v1")
class BorrowerUpdated(BorrowerPayload):
    changed: list[str] = []


@event("borrowers.borrower.kyc_verified.v1")
class BorrowerKycVerified(Payload):
    borrower_id: str
    identity_reference: str | None = None


@event("borrowers.borrower.kyc_failed.v1")
class BorrowerKycFailed(Payload):
    borrower_id: str
    reason: str


# --- loans -------------------------------------------------------------------------------------

class LoanPayload(Payload):
    loan_id: str
    status: str


@event("loans.loan.created.v1")
class LoanCreated(LoanPayload):
    borrower_id: str
    product_id: str
    principal: DecimalString
    currency: str
    term: int


@event("loans.loan.approved.v1")
class LoanApproved(LoanPayload):
    approved_by: str
    approved_at: str


@event("loans.loan.denied.v1")
class LoanDenied(LoanPayload):
    denied_by: str
    reason: str


@event("loans.loan.cancelled.v1")
class LoanCancelled(LoanPayload):
    cancelled_by: str


@event("loans.loan.disbursed.v1")
class LoanDisbursed(LoanPayload):
    """Everything the ledger needs to open the account, in one message."""

    borrower_id: str
    product_id: str
    currency: str
    principal: DecimalString
    disbursement_date: str
    first_payment_date: str
    terms: dict[str, Any]            # common.finance.LoanTerms.to_dict()
    schedule: dict[str, Any]         # the API schedule document
    origination_fee: DecimalString
    late_fee: DecimalString
    grace_days: int
    nsf_fee: DecimalString = "0"
    default_after_days: int
    non_accrual_after_days: int = 90
    allocation_order: list[str]
    arrears_tolerance: DecimalString = "0"   # short by no more than this: not past due


@event("loans.loan.paid_off.v1")
class LoanPaidOff(LoanPayload):
    as_of: str


@event("loans.loan.reopened.v1")
class LoanReopened(LoanPayload):
    """A paid-off loan owes again: the payment that paid it off was returned (NSF) or re-split."""

    as_of: str
    balance_total: DecimalString
    cause: str                       # the ledger's balance_changed cause (reversal, restatement, fee)


@event("loans.loan.defaulted.v1")
class LoanDefaulted(LoanPayload):
    as_of: str
    days_past_due: int


@event("loans.loan.charged_off.v1")
class LoanChargedOff(LoanPayload):
    as_of: str
    by: str


@event("loans.loan.written_off.v1")
class LoanWrittenOff(LoanPayload):
    as_of: str
    by: str


@event("loans.accrual_run.requested.v1")
class AccrualRunRequested(Payload):
    run_id: str
    through: str


# --- payments ----------------------------------------------------------------------------------

class PaymentPayload(Payload):
    payment_id: str
    loan_id: str
    amount: DecimalString
    currency: str
    method: str
    value_date: str


@event("payments.payment.received.v1")
class PaymentReceived(PaymentPayload):
    pass


@event("payments.payment.settled.v1")
class PaymentSettled(PaymentPayload):
    settled_at: str
    processor_reference: str | None = None


@event("payments.payment.failed.v1")
class PaymentFailed(PaymentPayload):
    reason: str


@event("payments.payment.returned.v1")
class PaymentReturned(PaymentPayload):
    reason: str


# --- ledger ------------------------------------------------------------------------------------

class Balances(BaseModel):
    model_config = ConfigDict(frozen=True)
    principal: DecimalString
    interest: DecimalString
    fees: DecimalString
    total: DecimalString


class LedgerPayload(Payload):
    loan_id: str
    sequence: int                    # per-account, +1 on every change; consumers ignore stale ones


@event("ledger.account.opened.v1")
class AccountOpened(LedgerPayload):
    balances: Balances


@event("ledger.payment.allocated.v1")
class PaymentAllocated(LedgerPayload):
    """A payment's split; sent again, with ``reallocated`` and the account's newer ``sequence``, when a back-dated
    payment or a return before it re-splits it (the latest sequence is the payment's allocation)."""

    payment_id: str
    fees: DecimalString
    interest: DecimalString
    principal: DecimalString
    overpayment: DecimalString
    value_date: str
    trace: list[dict[str, Any]] = []
    reallocated: bool = False


@event("ledger.payment.reversed.v1")
class PaymentReversed(LedgerPayload):
    payment_id: str
    fees: DecimalString
    interest: DecimalString
    principal: DecimalString
    overpayment: DecimalString
    nsf_fee: DecimalString = "0"


@event("ledger.loan.balance_changed.v1")
class BalanceChanged(LedgerPayload):
    balances: Balances
    days_past_due: int
    delinquency_bucket: str
    last_accrual_date: str | None = None
    accrual_since: str | None = None           # interest clock start: date of the last principal change
    interest_accrued_since: DecimalString = "0"  # interest posted since accrual_since (for payoff quotes)
    non_accrual: bool = False
    cause: str                       # opening | accrual | payment | reversal | fee | charge_off | write_off | restatement
    paid_off: bool = False
    # due date of the oldest installment not fully paid (null: every one is); with last_accrual_date it tells which
    # late fees a payoff on a later day will meet (loans' payoff quote)
    oldest_unpaid_due: str | None = None


@event("ledger.loan.delinquency_changed.v1")
class DelinquencyChanged(LedgerPayload):
    as_of: str
    days_past_due: int
    previous_bucket: str
    bucket: str
    non_accrual: bool = False


@event("ledger.loan.transaction_posted.v1")
class TransactionPosted(LedgerPayload):
    """One ledger movement for the loan's transaction list (accrual, allocation, fee, reversal...)."""

    transaction_id: str
    # disbursement | origination_fee | accrual | accrual_reversal | accrual_suspended (non-accrual: owed, not
    # income) | payment | late_fee | nsf_fee | reversal | non_accrual | non_accrual_cure (breakdown
    # ``interest_suspended``: moved into or out of suspense) | charge_off | write_off | reallocation (a payment
    # re-split by a back-dated payment or a return before it: ``reference`` is the payment, ``breakdown`` its new
    # split; the loan's listed payment takes it)
    kind: str
    effective_date: str
    amount: DecimalString
    breakdown: dict[str, DecimalString] = {}
    reference: str | None = None


@event("ledger.accrual_run.progressed.v1")
class AccrualRunProgressed(Payload):
    """Progress of a portfolio accrual run, one per chunk, with the chunk's new balances."""

    run_id: str
    status: str                      # running | completed | failed
    through: str
    accounts_total: int
    accounts_done: int
    accounts: list[dict[str, Any]] = []   # [{loan_id, sequence, balances{...}, last_accrual_date, accrued, …}]
