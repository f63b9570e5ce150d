"""The per-loan projection of the ledger: balances, days past due, the transaction list, accrual runs.

Sync functions, called by the event handlers inside the consumer's transaction (tenant restored).
Each that changes the loan locks its row first, so events about one loan apply one at a time (a
transaction's listing needs no lock: it is keyed by the ledger's transaction id). Balances carry the
ledger's per-account ``sequence``: an event not newer than the one applied last is stale and ignored.
Days past due has its own sequence (both ``balance_changed`` and ``delinquency_changed`` carry it).
State moves are guarded: ``paid_off`` only from active/defaulted, ``defaulted`` only from active, and a
paid-off loan that owes again (its payoff payment was returned) is ``active`` again (``reopened``).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from uuid import UUID

import structlog
from common.bus import catalogue as ev
from common.bus.outbox import outbox_add
from common.tenancy import require_tenant
from django.utils import timezone

from loans.models import AccrualRun, AccrualRunStatus, Loan, LoanStatus, LoanTransaction

log = structlog.get_logger(__name__)

TERMINAL_RUN_STATES = (AccrualRunStatus.COMPLETED, AccrualRunStatus.FAILED)


# What the projection changes on a loan: saved alone (a full save rewrote every column of the loan for each
# ledger event).
PROJECTED_FIELDS = ("balance_principal", "balance_interest", "balance_fees", "balance_total", "balance_sequence",
                    "last_accrual_date", "accrual_since", "interest_accrued_since", "oldest_unpaid_due", "non_accrual",
                    "days_past_due", "delinquency_sequence", "delinquency_bucket", "status", "paid_off_at", "defaulted_at",
                    "updated_at")


class UnknownLoan(LookupError):
    """A ledger event names a loan this service does not hold for the tenant (never acked silently)."""


def _lock(loan_id: str | UUID) -> Loan:
    # get(), not filter().first(): no ORDER BY to compile (this runs for every ledger event; py-spy). The
    # product is read only for a loan past due (``_maybe_default``), not joined into every event's lock.
    try:
        return Loan.objects.select_for_update().get(id=loan_id)
    except Loan.DoesNotExist:
        raise UnknownLoan(f"no loan {loan_id} in this tenant") from None


def _d(value) -> Decimal:
    return Decimal(str(value))


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _apply_balances(loan: Loan, *, sequence: int, balances: dict, fields: dict) -> bool:
    if sequence <= loan.balance_sequence:
        return False
    loan.balance_principal, loan.balance_interest = _d(balances["principal"]), _d(balances["interest"])
    loan.balance_fees, loan.balance_total = _d(balances["fees"]), _d(balances["total"])
    loan.balance_sequence = sequence
    if fields.get("last_accrual_date"):
        loan.last_accrual_date = _date(fields["last_accrual_date"])
    if fields.get("accrual_since"):
        loan.accrual_since = _date(fields["accrual_since"])
    if fields.get("interest_accrued_since") is not None:
        loan.interest_accrued_since = _d(fields["interest_accrued_since"])
    elif fields.get("accrued") is not None:
        # An accrual chunk without the clock fields: what it accrued was posted on the current clock.
        loan.interest_accrued_since += _d(fields["accrued"])
    if fields.get("non_accrual") is not None:
        loan.non_accrual = bool(fields["non_accrual"])
    # absent from the events of a ledger older than the field: unknown, so the payoff quote adds no late fee (as
    # before) rather than trusting a date set at disbursement
    loan.oldest_unpaid_due = _date(fields.get("oldest_unpaid_due"))
    return True


def _apply_delinquency(loan: Loan, *, sequence: int, days_past_due: int | None, bucket: str | None) -> bool:
    if days_past_due is None or sequence <= loan.delinquency_sequence:
        return False
    loan.days_past_due, loan.delinquency_sequence = days_past_due, sequence
    if bucket:
        loan.delinquency_bucket = bucket
    return True


def _maybe_default(loan: Loan, as_of: date) -> None:
    if loan.status == LoanStatus.ACTIVE and loan.days_past_due > 0 \
            and loan.days_past_due > loan.product.default_after_days:
        loan.status, loan.defaulted_at = LoanStatus.DEFAULTED, timezone.now()
        outbox_add(ev.LoanDefaulted(loan_id=str(loan.id), status=loan.status, as_of=as_of.isoformat(),
                                    days_past_due=loan.days_past_due))


def _maybe_paid_off(loan: Loan, as_of: date) -> None:
    """The ledger paid the account off. It does so only for an open account, never one it charged off: a loan
    shown charged off (or written off) here was charged off by an admin while the payoff was on its way, and the
    ledger refused that charge-off — the loan is paid off, as the books say."""
    if loan.status in (LoanStatus.CHARGED_OFF, LoanStatus.WRITTEN_OFF):
        log.warning("loan.charge_off_overtaken_by_payoff", loan_id=str(loan.id), status=loan.status)
    if loan.status in (LoanStatus.ACTIVE, LoanStatus.DEFAULTED, LoanStatus.CHARGED_OFF, LoanStatus.WRITTEN_OFF):
        loan.status, loan.paid_off_at = LoanStatus.PAID_OFF, timezone.now()
        outbox_add(ev.LoanPaidOff(loan_id=str(loan.id), status=loan.status, as_of=as_of.isoformat()))


def _maybe_reopen(loan: Loan, as_of: date, cause: str) -> None:
    """The ledger says a paid-off loan owes again (the payment that paid it off was returned, or re-split by a
    back-dated one): it is active again, so it can be paid, ages and may default, as in Fineract or Mambu when
    the closing repayment is undone."""
    if loan.status == LoanStatus.PAID_OFF and loan.balance_total > 0:
        loan.status, loan.paid_off_at = LoanStatus.ACTIVE, None
        outbox_add(ev.LoanReopened(loan_id=str(loan.id), status=loan.status, as_of=as_of.isoformat(),
                                   balance_total=str(loan.balance_total), cause=cause))
        log.info("loan.reopened", loan_id=str(loan.id), balance_total=str(loan.balance_total), cause=cause)


def balance_changed_apply(*, payload: ev.BalanceChanged, as_of: date) -> bool:
    """Apply a balance change unless stale; ``paid_off`` → loan paid off; past the threshold → defaulted."""
    loan = _lock(payload.loan_id)
    applied = _apply_balances(loan, sequence=payload.sequence, balances=payload.balances.model_dump(),
                              fields=payload.model_dump())
    if not applied:
        log.info("projection.stale", loan_id=payload.loan_id, sequence=payload.sequence,
                 applied=loan.balance_sequence)
        return False
    _apply_delinquency(loan, sequence=payload.sequence, days_past_due=payload.days_past_due,
                       bucket=payload.delinquency_bucket)
    if payload.paid_off:
        _maybe_paid_off(loan, as_of)
    else:
        _maybe_reopen(loan, as_of, payload.cause)
        _maybe_default(loan, as_of)
    loan.save(update_fields=PROJECTED_FIELDS)
    return True


def delinquency_changed_apply(*, payload: ev.DelinquencyChanged) -> bool:
    loan = _lock(payload.loan_id)
    if not _apply_delinquency(loan, sequence=payload.sequence, days_past_due=payload.days_past_due,
                              bucket=payload.bucket):
        return False
    loan.non_accrual = payload.non_accrual
    _maybe_default(loan, date.fromisoformat(payload.as_of))
    loan.save(update_fields=PROJECTED_FIELDS)
    return True


# The kinds an earlier version derived from payment events (``LoanTransaction.derived``).
DERIVED_KINDS = ("payment", "reversal")


def transaction_posted_apply(*, payload: ev.TransactionPosted) -> None:
    """The ledger's record of a movement (payments and reversals included: the ledger posts each in the same
    transaction as its ``payment.allocated``/``payment.reversed``), listed once by its transaction id.

    A redelivery or a second copy under another event id is absorbed by the unique (tenant, transaction id) index
    (``ON CONFLICT DO NOTHING``). A movement of a payment (its record, its reversal, a re-split) also looks at the
    payment's other rows, so it takes the loan's row lock: two consumers at once (a rollout runs the old and the
    new one side by side) could otherwise each miss the other's uncommitted row and list the payment twice. Other
    movements (accruals, fees) need no lock: their row depends on nothing but the event."""
    if payload.reference and payload.kind in (*DERIVED_KINDS, REALLOCATION):
        _lock(payload.loan_id)                                     # tenant-scoped: UnknownLoan for another's
    elif not Loan.objects.filter(id=payload.loan_id).exists():
        raise UnknownLoan(f"no loan {payload.loan_id} in this tenant")
    fields = {"kind": payload.kind, "effective_date": date.fromisoformat(payload.effective_date),
              "amount": _d(payload.amount), "breakdown": dict(payload.breakdown), "reference": payload.reference or "",
              "sequence": payload.sequence, "derived": False}
    if payload.kind == REALLOCATION and payload.reference:
        _reallocation_apply(payload, fields)
        return
    if payload.reference and payload.kind in DERIVED_KINDS:
        # a row listed before this record arrived (partial index ``loan_transaction_derived``: an empty lookup on
        # an installation that never had one) — derived by an earlier version, or a re-split that overtook its
        # payment — is taken over (a newer split kept), or dropped if the record is listed already (a
        # redelivery, or an old consumer that raced this one during the upgrade)
        derived = LoanTransaction.objects.filter(loan_id=payload.loan_id, kind=payload.kind,
                                                 reference=payload.reference, derived=True)
        if derived.exists():
            if LoanTransaction.objects.filter(transaction_id=payload.transaction_id).exists():
                derived.delete()
            else:
                derived.filter(sequence__gt=payload.sequence).update(transaction_id=payload.transaction_id,
                                                                     derived=False)
                derived.update(transaction_id=payload.transaction_id, **fields)
            return
    row = LoanTransaction(tenant_id=require_tenant(), loan_id=payload.loan_id, transaction_id=payload.transaction_id,
                          **fields)
    LoanTransaction.objects.bulk_create([row], ignore_conflicts=True)


REALLOCATION = "reallocation"


def _reallocation_apply(payload: ev.TransactionPosted, fields: dict) -> None:
    """A payment the ledger re-split (a back-dated payment or a return before it): the listed payment takes the
    new split if it is newer (sequence); a re-split that overtook the payment's own record (a retry reordered
    them) is listed as the payment, ``derived``, for that record to take over."""
    listed = LoanTransaction.objects.filter(loan_id=payload.loan_id, kind="payment", reference=payload.reference)
    newer = {"amount": fields["amount"], "breakdown": fields["breakdown"], "sequence": fields["sequence"]}
    if listed.filter(sequence__lt=payload.sequence).update(**newer) or listed.exists():
        return
    row = LoanTransaction(tenant_id=require_tenant(), loan_id=payload.loan_id, transaction_id=payload.transaction_id,
                          **{**fields, "kind": "payment", "derived": True})
    LoanTransaction.objects.bulk_create([row], ignore_conflicts=True)


def accrual_run_progressed_apply(*, payload: ev.AccrualRunProgressed) -> None:
    """Run progress only moves forward (out-of-order chunks cannot undo it); each account's balances
    are applied sequence-guarded, loans locked in a fixed order."""
    run = AccrualRun.objects.select_for_update().filter(id=payload.run_id).first()
    if run is None:
        log.info("accrual_run.unknown", run_id=payload.run_id)  # e.g. the worker's own daily run
    elif run.status not in TERMINAL_RUN_STATES:
        run.accounts_total = max(run.accounts_total, payload.accounts_total)
        run.accounts_done = max(run.accounts_done, payload.accounts_done)
        if payload.status in TERMINAL_RUN_STATES or payload.status == AccrualRunStatus.RUNNING:
            run.status = payload.status
        run.save()
    products: dict = {}        # a chunk's past-due loans share a few products: each is read once per event
    movements = []
    for account in sorted(payload.accounts, key=lambda a: str(a["loan_id"])):
        loan = _lock(account["loan_id"])
        movements += _accrual_movement(loan, payload, account)
        if loan.product_id in products:
            loan.product = products[loan.product_id]
        if _apply_balances(loan, sequence=int(account["sequence"]), balances=account["balances"], fields=account):
            _apply_delinquency(loan, sequence=int(account["sequence"]), days_past_due=account.get("days_past_due"),
                               bucket=account.get("delinquency_bucket"))
            # a run accrues open accounts only: one the projection still shows paid off was reopened (its
            # balance_changed may come later, or be stale by then)
            _maybe_reopen(loan, date.fromisoformat(payload.through), "accrual")
            _maybe_default(loan, date.fromisoformat(payload.through))
            loan.save(update_fields=PROJECTED_FIELDS)
        if Loan.product.is_cached(loan):
            products[loan.product_id] = loan.product
    LoanTransaction.objects.bulk_create(movements, ignore_conflicts=True)     # a redelivered chunk adds none


def _accrual_movement(loan: Loan, payload: ev.AccrualRunProgressed, account: dict) -> list[LoanTransaction]:
    """What the run accrued for the loan (``posted``, catch-up days included), as one movement of its transaction
    list, dated the run's day; its id is the run's and the loan's, so it is listed once."""
    posted = account.get("posted")
    if posted is None or _d(posted) <= 0:
        return []
    return [LoanTransaction(
        tenant_id=require_tenant(), loan=loan, transaction_id=f"accrual_run:{payload.run_id}:{loan.id}",
        kind=account.get("posted_kind") or "accrual", effective_date=date.fromisoformat(payload.through),
        amount=_d(posted), breakdown={"interest": posted}, reference=f"accrual_run:{payload.run_id}",
        sequence=int(account["sequence"]), derived=False)]
