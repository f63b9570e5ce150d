"""Request and response schemas of the payments API (API.md "payments"). No queries, no rules."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal

from common.money import format_amount
from ninja import Schema
from pydantic import BeforeValidator, ConfigDict, Field, StrictStr

from payments.models import Payment

Method = Literal["ach", "card", "cash"]
Status = Literal["pending", "settled", "allocated", "failed", "returned"]


def _iso_date_string(value):
    # pydantic would also take a number (a unix timestamp) for a date; the API takes "YYYY-MM-DD" only.
    if not isinstance(value, (str, date)):
        raise ValueError("value_date must be a date string YYYY-MM-DD")
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_date_string)]


class PaymentCreateIn(Schema):
    model_config = ConfigDict(extra="forbid")

    loan_id: uuid.UUID
    amount: StrictStr = Field(description='decimal string, e.g. "250.00"; a JSON number is refused')
    currency: StrictStr = Field(min_length=3, max_length=3, description="ISO 4217, e.g. USD")
    method: Method
    value_date: IsoDate = Field(description="YYYY-MM-DD")


class PaymentReturnIn(Schema):
    reason: StrictStr = Field(min_length=1, max_length=255)


class AllocationOut(Schema):
    fees: str
    interest: str
    principal: str
    overpayment: str


class PaymentOut(Schema):
    id: uuid.UUID
    loan_id: uuid.UUID
    amount: str
    currency: str
    method: str
    # Strings as payment_body writes them, so a GET and an idempotent replay render dates identically.
    value_date: str = Field(json_schema_extra={"format": "date"})
    status: Status
    allocation: AllocationOut | None
    created_at: str = Field(json_schema_extra={"format": "date-time"})
    updated_at: str = Field(json_schema_extra={"format": "date-time"})


class PaymentListOut(Schema):
    items: list[PaymentOut]
    count: int


class WebhookAckOut(Schema):
    received: bool
    duplicate: bool
    outcome: str


def payment_body(payment: Payment) -> dict:
    """The API document of a payment, JSON-ready (also what an idempotent replay sends back)."""
    currency = payment.currency
    allocation = None
    if payment.has_allocation:
        allocation = {
            "fees": format_amount(payment.allocated_fees, currency),
            "interest": format_amount(payment.allocated_interest, currency),
            "principal": format_amount(payment.allocated_principal, currency),
            "overpayment": format_amount(payment.allocated_overpayment, currency),
        }
    return {
        "id": str(payment.id),
        "loan_id": str(payment.loan_id),
        "amount": format_amount(payment.amount, currency),
        "currency": currency,
        "method": payment.method,
        "value_date": payment.value_date.isoformat(),
        "status": payment.status,
        "allocation": allocation,
        "created_at": payment.created_at.isoformat(),
        "updated_at": payment.updated_at.isoformat(),
    }
