"""Error codes of the payments service (the last segment of a problem's ``type``) and their messages."""

from enum import StrEnum


class PaymentError(StrEnum):
    INVALID_AMOUNT = "invalid_amount"
    UNKNOWN_CURRENCY = "unknown_currency"
    LOAN_NOT_FOUND = "loan_not_found"
    LOAN_NOT_PAYABLE = "loan_not_payable"
    CURRENCY_MISMATCH = "currency_mismatch"
    VALUE_DATE_BEFORE_DISBURSEMENT = "value_date_before_disbursement"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    IDEMPOTENCY_KEY_IN_FLIGHT = "idempotency_key_in_flight"
    IDEMPOTENCY_KEY_INVALID = "idempotency_key_invalid"
    ILLEGAL_TRANSITION = "illegal_transition"
    BAD_SIGNATURE = "bad_signature"
    UNKNOWN_PAYMENT = "unknown_payment"


MESSAGES = {
    PaymentError.LOAN_NOT_FOUND: "the loan does not exist for this tenant",
    PaymentError.LOAN_NOT_PAYABLE: "payments are accepted only for active or defaulted loans",
    PaymentError.CURRENCY_MISMATCH: "the payment currency differs from the loan currency",
    PaymentError.VALUE_DATE_BEFORE_DISBURSEMENT: "the value date is before the loan was disbursed",
    PaymentError.IDEMPOTENCY_KEY_REUSED: "this Idempotency-Key was already used with a different request body",
    PaymentError.IDEMPOTENCY_KEY_IN_FLIGHT: "a request with this Idempotency-Key is still being processed; retry later",
    PaymentError.IDEMPOTENCY_KEY_INVALID: "the Idempotency-Key header must be 1 to 255 characters",
    PaymentError.BAD_SIGNATURE: "the callback signature is missing, invalid or stale",
}

PAYABLE_LOAN_STATUSES = frozenset({"active", "defaulted"})
