"""Double-entry postings (ARCHITECTURE.md §4). An impact is {gl_account: signed amount}, debit positive;
``post`` turns one into a balanced, immutable journal entry (the database refuses an unbalanced one).

Interest of a non-accrual loan (DOMAIN.md: cash basis) is kept on a memo (off-balance-sheet) pair,
``suspended_interest`` / ``suspended_interest_contra``: entering non-accrual reverses the accrued interest
out of income and into the memo pair, each day accrued then goes to the memo pair only, a payment of it is
income when received, and a cure moves what is left back into the receivable. The memo pair's balance is
the account's ``interest_suspended``; ``interest_income + suspended_interest_contra`` moves exactly with the
interest the borrower is charged."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal

from ledger.models import Account, GLAccount, JournalEntry, JournalLine

Impact = dict[str, Decimal]

LR, IR, II = GLAccount.LOANS_RECEIVABLE, GLAccount.INTEREST_RECEIVABLE, GLAccount.INTEREST_INCOME
FR, FI, CASH = GLAccount.FEES_RECEIVABLE, GLAccount.FEE_INCOME, GLAccount.CASH_CLEARING
SUSPENSE = GLAccount.BORROWER_SUSPENSE
PROVISION, ALLOWANCE = GLAccount.PROVISION_FOR_LOSSES, GLAccount.ALLOWANCE_FOR_LOSSES
SI, SIC = GLAccount.SUSPENDED_INTEREST, GLAccount.SUSPENDED_INTEREST_CONTRA
RECOVERIES = GLAccount.RECOVERIES


def disbursement(amount: Decimal) -> Impact:
    return {LR: amount, CASH: -amount}


def fee_assessed(amount: Decimal) -> Impact:
    return {FR: amount, FI: -amount}


def accrual(amount: Decimal, *, suspended: bool = False) -> Impact:
    """Interest accrued: income, or (``suspended``: accrued in non-accrual) owed but not income, memo only."""
    return {SI: amount, SIC: -amount} if suspended else {IR: amount, II: -amount}


def accrual_kind(suspended: bool) -> str:
    """The journal entry's and the loan's movement's kind of an accrual."""
    return "accrual_suspended" if suspended else "accrual"


def non_accrual(interest: Decimal) -> Impact:
    """Entry into non-accrual: the accrued interest reversed out of income, kept owed on the memo pair.
    A cure is its negation (what is still suspended recognised again)."""
    return {II: interest, IR: -interest, SI: interest, SIC: -interest}


def legacy_non_accrual(interest: Decimal) -> Impact:
    """How the earlier version posted an entry into non-accrual: the interest reversed and forgiven."""
    return {II: interest, IR: -interest}


def payment(*, amount: Decimal, fees: Decimal, interest: Decimal, principal: Decimal, overpayment: Decimal,
            interest_suspended: Decimal = Decimal(0)) -> Impact:
    """``interest_suspended`` (part of ``interest``) paid suspended interest: income when received."""
    recognised = interest - interest_suspended
    return {CASH: amount, FR: -fees, IR: -recognised, II: -interest_suspended, SI: -interest_suspended,
            SIC: interest_suspended, LR: -principal, SUSPENSE: -overpayment}


def collection_after_charge_off(payment_impact: Impact, principal: Decimal) -> Impact:
    """A payment on a charged-off loan pays its balances as any payment does; the allowance held against the
    principal it collects is released (a recovery of the provision)."""
    return combine([payment_impact, {ALLOWANCE: principal, PROVISION: -principal}])


def recovery(*, amount: Decimal, recovered: Decimal, overpayment: Decimal) -> Impact:
    """Cash received on a written-off loan: income (what was written off is off the books); any excess is the
    borrower's (suspense)."""
    return {CASH: amount, RECOVERIES: -recovered, SUSPENSE: -overpayment}


def charge_off(principal: Decimal) -> Impact:
    return {PROVISION: principal, ALLOWANCE: -principal}


def write_off(*, principal: Decimal, interest: Decimal, fees: Decimal,
              interest_suspended: Decimal = Decimal(0)) -> Impact:
    """``interest_suspended`` was never income: only its memo pair is closed."""
    return {ALLOWANCE: principal, LR: -principal, II: interest, IR: -interest, FI: fees, FR: -fees,
            SIC: interest_suspended, SI: -interest_suspended}


def combine(impacts: Iterable[Mapping[str, Decimal]], sign: int = 1) -> Impact:
    total: Impact = defaultdict(Decimal)
    for impact in impacts:
        for gl, amount in impact.items():
            total[gl] += sign * amount
    return dict(total)


def negate(impact: Mapping[str, Decimal]) -> Impact:
    return {gl: -amount for gl, amount in impact.items()}


def post(*, kind: str, effective_date: date, impact: Mapping[str, Decimal], account: Account | None = None,
         reference: str = "", product_id: str = "", memo: dict | None = None,
         tenant_id: str | None = None) -> JournalEntry | None:
    """One balanced entry for ``impact`` (zero lines dropped); None when nothing moves."""
    lines = [(gl, amount) for gl, amount in sorted(impact.items()) if amount != 0]
    if not lines:
        return None
    if sum(amount for _, amount in lines) != 0:
        raise ValueError(f"unbalanced {kind} entry: {lines}")
    entry = JournalEntry(account=account, kind=kind, effective_date=effective_date, reference=reference[:128],
                         product_id=product_id or (account.product_id if account else ""), memo=memo or {})
    entry.tenant_id = tenant_id or (account.tenant_id if account else None) or ""
    entry.save()
    JournalLine.objects.bulk_create([
        JournalLine(entry=entry, gl_account=gl, debit=amount if amount > 0 else 0, credit=-amount if amount < 0 else 0)
        for gl, amount in lines
    ])
    return entry
