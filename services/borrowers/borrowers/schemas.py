"""Request and response schemas of the borrowers API (shapes only; rules live in services).

``address`` is either a free-text string (≤ 500 characters) or an object
``{"line1", "line2"?, "city", "region"?, "postal_code"?, "country"}`` (country: ISO 3166-1 alpha-2);
it is returned exactly in the form it was given. Unknown fields in a request are ignored.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import EmailValidator
from ninja import Schema
from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, StringConstraints

EARLIEST_BIRTH_DATE = date(1900, 1, 1)
_PHONE = re.compile(r"^\+?[0-9][0-9 ().\-]{2,30}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_email_validator = EmailValidator()


def _no_control_chars(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


def _valid_email(value: str) -> str:
    try:
        _email_validator(value)
    except DjangoValidationError:
        raise ValueError("is not a valid email address") from None
    return value


def _valid_phone(value: str) -> str:
    if not _PHONE.match(value):
        raise ValueError("must be a phone number: digits, spaces, ()-. and an optional leading +")
    return value


def _iso_date_string(value: object) -> object:
    # JSON has no date type: only an ISO "YYYY-MM-DD" string is a date (not a number of seconds).
    if not isinstance(value, str | date):
        raise ValueError("must be a date string YYYY-MM-DD")
    return value


def _valid_birth_date(value: date) -> date:
    if value < EARLIEST_BIRTH_DATE or value > date.today():
        raise ValueError(f"must be between {EARLIEST_BIRTH_DATE.isoformat()} and today")
    return value


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
                 AfterValidator(_no_control_chars)]
Email = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=254),
                  AfterValidator(_valid_email)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=32),
                  AfterValidator(_valid_phone)]
BirthDate = Annotated[date, BeforeValidator(_iso_date_string), AfterValidator(_valid_birth_date)]
AddressLine = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
                        AfterValidator(_no_control_chars)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
                      AfterValidator(_no_control_chars)]


class AddressIn(Schema):
    model_config = ConfigDict(extra="forbid")

    line1: AddressLine
    line2: AddressLine | None = None
    city: AddressLine
    region: ShortText | None = None
    postal_code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)] | None = None
    country: Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{2}$")]


AddressText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
                        AfterValidator(_no_control_chars)]
Address = AddressText | AddressIn


class BorrowerCreateIn(Schema):
    first_name: Name
    last_name: Name
    email: Email
    phone: Phone | None = None
    date_of_birth: BirthDate | None = None
    address: Address | None = None


class BorrowerUpdateIn(Schema):
    """Partial update: only the fields sent change; ``null`` clears an optional field.

    ``version`` (or the ``If-Match`` header) makes the update conditional on the version read."""

    first_name: Name | None = None
    last_name: Name | None = None
    email: Email | None = None
    phone: Phone | None = None
    date_of_birth: BirthDate | None = None
    address: Address | None = None
    version: Annotated[int, Field(ge=1, strict=True)] | None = None


class BorrowerOut(Schema):
    id: uuid.UUID
    first_name: str
    last_name: str
    email: str
    phone: str | None
    date_of_birth: date | None
    address: str | dict | None
    identity_reference: str | None
    kyc_status: Literal["pending", "verified", "failed"]
    kyc_reason: str | None
    version: int
    created_at: datetime
    updated_at: datetime


class BorrowerListOut(Schema):
    items: list[BorrowerOut]
    count: int


class AssignIn(Schema):
    subject: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128),
                       AfterValidator(_no_control_chars)]
    perms: list[Literal["view", "change"]] = Field(default_factory=lambda: ["view", "change"], min_length=1)


class AssignOut(Schema):
    borrower_id: uuid.UUID
    subject: str
    perms: list[str]
