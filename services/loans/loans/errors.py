"""Error codes of the loans service and their messages (tests import them)."""

from __future__ import annotations

from enum import StrEnum


class LoanError(StrEnum):
    PRODUCT_NOT_FOUND = "product_not_found"
    LOAN_NOT_FOUND = "loan_not_found"
    ACCRUAL_RUN_NOT_FOUND = "accrual_run_not_found"
    INVALID_PRODUCT = "invalid_product"
    INVALID_LOAN = "invalid_loan"
    BORROWER_NOT_FOUND = "borrower_not_found"
    BORROWERS_UNAVAILABLE = "borrowers_unavailable"
    ILLEGAL_TRANSITION = "illegal_transition"
    FOUR_EYES = "four_eyes"
    NOT_DISBURSED = "not_disbursed"


MESSAGES = {
    LoanError.PRODUCT_NOT_FOUND: "no such product",
    LoanError.LOAN_NOT_FOUND: "no such loan",
    LoanError.ACCRUAL_RUN_NOT_FOUND: "no such accrual run",
    LoanError.INVALID_PRODUCT: "the product is not valid",
    LoanError.INVALID_LOAN: "the loan application is not valid",
    LoanError.BORROWER_NOT_FOUND: "the borrower does not exist for this tenant",
    LoanError.BORROWERS_UNAVAILABLE: "the borrowers service is unavailable; nothing was stored, retry later",
    LoanError.ILLEGAL_TRANSITION: "a {status} loan cannot be {action}",
    LoanError.FOUR_EYES: "this product requires four eyes: the loan's creator may not approve it",
    LoanError.NOT_DISBURSED: "the loan has not been disbursed",
}
