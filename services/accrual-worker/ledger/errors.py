"""Why a ledger command did not apply. Retryable errors are retried with back-off by the task; the others
are permanent (the message is rejected to the dead-letter queue, never silently dropped)."""

from __future__ import annotations

from enum import StrEnum


class LedgerErrorCode(StrEnum):
    ACCOUNT_NOT_OPEN = "account_not_open"
    PAYMENT_NOT_ALLOCATED = "payment_not_allocated"
    PAYMENT_REJECTED = "payment_rejected"
    ACCOUNT_CLOSED = "account_closed"


class LedgerError(Exception):
    code: LedgerErrorCode
    retryable = False

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class AccountNotOpen(LedgerError):
    """The loan's account does not exist yet: its disbursed event is still in flight."""

    code = LedgerErrorCode.ACCOUNT_NOT_OPEN
    retryable = True


class PaymentNotAllocated(LedgerError):
    """A reversal arrived before the allocation it reverses."""

    code = LedgerErrorCode.PAYMENT_NOT_ALLOCATED
    retryable = True


class PaymentRejected(LedgerError):
    """The payment cannot be applied (currency mismatch, bad amount, value date before disbursement)."""

    code = LedgerErrorCode.PAYMENT_REJECTED


class AccountClosed(LedgerError):
    """The change would need a history the ledger cannot replay (cash applied while charged off before ledger
    migration 0008, parked in suspense as if the loan were open): an operator's decision."""

    code = LedgerErrorCode.ACCOUNT_CLOSED
