"""Error codes of the payments service (the last segment of a problem's ``type``) and their messages.

The ``idempotency_key_*`` codes are ``common.idempotency``'s.
"""

from enum import StrEnum


class PaymentError(StrEnum):
    INVALID_AMOUNT = "invalid_amount"
    UNKNOWN_CURRENCY = "unknown_currency"
    LOAN_NOT_FOUND = "loan_not_found"
    LOAN_NOT_PAYABLE = "loan_not_payable"
    CURRENCY_MISMATCH = "currency_mismatch"
    VALUE_DATE_BEFORE_DISBURSEMENT = "value_date_before_disbursement"
    ILLEGAL_TRANSITION = "illegal_transition"
    BAD_SIGNATURE = "bad_signature"
    UNKNOWN_PAYMENT = "unknown_payment"


MESSAGES = {
    PaymentError.LOAN_NOT_FOUND: "the loan does not exist for this tenant",
    PaymentError.LOAN_NOT_PAYABLE: "payments are accepted only for disbursed loans that are not paid off",
    PaymentError.CURRENCY_MISMATCH: "the payment currency differs from the loan currency",
    PaymentError.VALUE_DATE_BEFORE_DISBURSEMENT: "the value date is before the loan was disbursed",
    PaymentError.BAD_SIGNATURE: "the callback signature is missing, invalid or stale",
}

# Charged-off and written-off loans take payments too: collections and recoveries (the ledger books them; cash is
# never refused from a borrower who still owes, or owed, the lender).
PAYABLE_LOAN_STATUSES = frozenset({"active", "defaulted", "charged_off", "written_off"})
