"""Request and response schemas of the loans API (API.md "loans"). Shapes only: no logic, no queries."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

from common.money import DecimalString
from ninja import Field, Schema
from pydantic import ConfigDict, StrictInt

Frequency = Literal["monthly", "biweekly", "weekly"]
InterestMethod = Literal["declining_balance", "flat"]
Amortization = Literal["equal_installments", "equal_principal"]
DayCount = Literal["30/360", "30e/360", "actual/365", "actual/360", "actual/actual"]
Bucket = Literal["fees", "interest", "principal"]


class StrictSchema(Schema):
    """Request bodies: unknown fields are ignored (clients may send more than the contract names)."""

    model_config = ConfigDict(extra="ignore")


class RoundingIn(StrictSchema):
    mode: Literal["half_even", "half_up"]
    places: StrictInt = Field(..., ge=0, le=4)


class OriginationFeeIn(StrictSchema):
    type: Literal["flat", "percent"] = Field(
        ..., description='"flat": `value` is an amount in the currency; "percent": `value` is in percent points '
        'of the principal ("1.5" is 1.5%), rounded with the product\'s rounding')
    value: DecimalString


class LateFeeIn(StrictSchema):
    amount: DecimalString
    grace_days: StrictInt = Field(..., ge=0, le=365)


class ProductIn(StrictSchema):
    name: str = Field(..., min_length=1, max_length=200)
    currency: str = Field(..., min_length=3, max_length=3, description="ISO 4217")
    annual_rate: DecimalString = Field(..., description='a fraction: "0.12" is 12% a year; 0 to 1')
    term_min: StrictInt = Field(..., ge=1, le=1200)
    term_max: StrictInt = Field(..., ge=1, le=1200)
    frequency: Frequency
    interest_method: InterestMethod
    amortization: Amortization
    day_count: DayCount
    rounding: RoundingIn
    origination_fee: OriginationFeeIn
    late_fee: LateFeeIn
    default_after_days: StrictInt = Field(..., ge=1, le=3650)
    allocation_order: list[Bucket] = Field(..., description="a permutation of fees, interest, principal")
    nsf_fee: DecimalString = Field("0", description="fee assessed when a payment is returned")
    four_eyes: bool = Field(False, description="when true, the loan's creator may not approve it")
    non_accrual_after_days: StrictInt = Field(90, ge=1, le=3650)
    arrears_tolerance: DecimalString = Field(
        "0", description="an installment short by no more than this is not past due, and a balance of no more "
                         "than this left after the last due date does not age (Fineract's in-arrears tolerance)")


class RoundingOut(Schema):
    mode: str
    places: int


class OriginationFeeOut(Schema):
    type: str
    value: str


class LateFeeOut(Schema):
    amount: str
    grace_days: int


class ProductOut(Schema):
    id: UUID
    name: str
    currency: str
    annual_rate: str
    term_min: int
    term_max: int
    frequency: str
    interest_method: str
    amortization: str
    day_count: str
    rounding: RoundingOut
    origination_fee: OriginationFeeOut
    late_fee: LateFeeOut
    default_after_days: int
    allocation_order: list[str]
    nsf_fee: str
    four_eyes: bool
    non_accrual_after_days: int
    arrears_tolerance: str
    created_at: datetime
    updated_at: datetime


class ProductListOut(Schema):
    items: list[ProductOut]
    count: int


class InstallmentOut(Schema):
    number: int
    due_date: date
    principal: str
    interest: str
    fees: str
    total: str
    balance_after: str


class AmountsOut(Schema):
    principal: str
    interest: str
    fees: str
    total: str


class ScheduleOut(Schema):
    installments: list[InstallmentOut]
    totals: AmountsOut


# A schedule must end inside the calendar: a 360-month loan disbursed at the edge of year 9999 would
# fall due in year 10000. Business dates are bounded to a range any real book lives in.
BUSINESS_DATE_MIN, BUSINESS_DATE_MAX = date(1900, 1, 1), date(2200, 12, 31)


class SchedulePreviewIn(StrictSchema):
    product_id: UUID
    principal: DecimalString
    term: StrictInt
    disbursement_date: date = Field(..., ge=BUSINESS_DATE_MIN, le=BUSINESS_DATE_MAX)
    first_payment_date: date | None = Field(None, ge=BUSINESS_DATE_MIN, le=BUSINESS_DATE_MAX)


class LoanCreateIn(StrictSchema):
    borrower_id: UUID
    product_id: UUID
    principal: DecimalString
    term: StrictInt


class LoanOut(Schema):
    id: UUID
    borrower_id: UUID
    product_id: UUID
    status: str
    principal: str
    currency: str
    term: int
    annual_rate: str
    disbursement_date: date | None
    first_payment_date: date | None
    balances: AmountsOut
    days_past_due: int
    delinquency_bucket: str
    origination_fee: str
    created_by: str
    approved_by: str | None
    approved_at: datetime | None
    denial_reason: str | None
    created_at: datetime
    updated_at: datetime


class LoanWithScheduleOut(LoanOut):
    schedule: ScheduleOut | None = None


class LoanListOut(Schema):
    items: list[LoanOut]
    count: int


class EmptyIn(StrictSchema):
    pass


class DenyIn(StrictSchema):
    reason: str = Field(..., min_length=1, max_length=2000)


class CancelIn(StrictSchema):
    reason: str | None = Field(None, max_length=2000)


class DisburseIn(StrictSchema):
    disbursement_date: date = Field(..., ge=BUSINESS_DATE_MIN, le=BUSINESS_DATE_MAX)
    first_payment_date: date | None = Field(None, ge=BUSINESS_DATE_MIN, le=BUSINESS_DATE_MAX)


class LossIn(StrictSchema):
    as_of: date | None = Field(None, description="defaults to today (UTC)")
    reason: str | None = Field(None, max_length=2000)


class AssignIn(StrictSchema):
    subject: str = Field(..., min_length=1, max_length=150)
    perms: list[Literal["view", "change"]] = Field(default_factory=lambda: ["view", "change"], min_length=1)


class AssignOut(Schema):
    loan_id: UUID
    subject: str
    perms: list[str]


class PayoffQuoteOut(Schema):
    as_of: date
    principal: str
    interest: str
    fees: str
    total: str


class TransactionOut(Schema):
    transaction_id: str
    kind: str
    effective_date: date
    amount: str
    breakdown: dict[str, Any]
    reference: str | None
    created_at: datetime


class TransactionListOut(Schema):
    items: list[TransactionOut]
    count: int


class AccrualRunIn(StrictSchema):
    through: date


class AccrualRunOut(Schema):
    id: UUID
    status: str
    through: date
    accounts_total: int
    accounts_done: int
