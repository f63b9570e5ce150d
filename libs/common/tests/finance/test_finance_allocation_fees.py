"""Payment waterfall, fees and delinquency."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
from common.finance import (
    LoanTerms,
    allocate,
    days_past_due,
    delinquency_bucket,
    generate_schedule,
    late_fees_due,
    origination_fee,
)
from finance_testkit import FAST, case, money
from hypothesis import given
from hypothesis import strategies as st

OWED = {"fees": Decimal("25.00"), "interest": Decimal("100.00"), "principal": Decimal("788.49")}
SCHEDULE_A = generate_schedule(LoanTerms.from_dict(case("schedules.json", "A_equal_installments")["request"]))
ROWS = SCHEDULE_A.installments  # totals 888.49; due on the 15th from 2024-02-15


def test_waterfall_pays_buckets_in_order_and_traces_each_step():
    allocation = allocate(amount=Decimal("110.00"), owed=OWED, order=["fees", "interest", "principal"], places=2)
    assert allocation.to_dict() == {"fees": "25.00", "interest": "85.00", "principal": "0.00", "overpayment": "0.00"}
    assert [(s.bucket, s.owed_before, s.applied, s.owed_after) for s in allocation.trace] == [
        ("fees", Decimal("25.00"), Decimal("25.00"), Decimal("0.00")),
        ("interest", Decimal("100.00"), Decimal("85.00"), Decimal("15.00")),
        ("principal", Decimal("788.49"), Decimal("0.00"), Decimal("788.49")),
    ]
    json.dumps(allocation.explain())


def test_interest_first_order_and_overpayment():
    allocation = allocate(amount=Decimal("1000.00"), owed=OWED, order=["interest", "principal", "fees"], places=2)
    assert allocation.to_dict() == {"fees": "25.00", "interest": "100.00", "principal": "788.49",
                                    "overpayment": "86.51"}
    short = allocate(amount=Decimal("120.00"), owed=OWED, order=["interest", "principal", "fees"], places=2)
    assert (short.interest, short.principal, short.fees) == (Decimal("100.00"), Decimal("20.00"), Decimal("0.00"))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"order": ["fees", "interest"]}, "permutation"),
        ({"order": ["fees", "fees", "principal"]}, "permutation"),
        ({"amount": Decimal("1.001")}, "decimals"),
        ({"amount": Decimal("-1.00")}, ">= 0"),
        ({"owed": {**OWED, "penalty": Decimal(1)}}, "unknown"),
    ],
)
def test_allocation_rejects_bad_input(kwargs, match):
    args = {"amount": Decimal("10.00"), "owed": OWED, "order": ["fees", "interest", "principal"], "places": 2}
    with pytest.raises(ValueError, match=match):
        allocate(**{**args, **kwargs})


@FAST
@given(money(2, 0, 5000), money(2, 0, 100), money(2, 0, 500), money(2, 0, 5000),
       st.permutations(["fees", "interest", "principal"]))
def test_allocation_buckets_sum_to_the_payment(amount, fees, interest, principal, order):
    owed = {"fees": fees, "interest": interest, "principal": principal}
    allocation = allocate(amount=amount, owed=owed, order=order, places=2)
    assert allocation.fees + allocation.interest + allocation.principal + allocation.overpayment == amount
    for bucket in owed:
        assert 0 <= getattr(allocation, bucket) <= owed[bucket]
    assert allocation.overpayment == max(Decimal(0), amount - fees - interest - principal)
    # a bucket is only short when everything after it got nothing
    for step, later in zip(allocation.trace, allocation.trace[1:], strict=False):
        if step.owed_after > 0:
            assert later.applied == 0


def test_late_fee_after_grace_days_once_per_missed_installment():
    fee, due1 = Decimal("15.00"), ROWS[0].due_date
    common = dict(installments=ROWS, grace_days=10, fee=fee, amount_paid_toward_schedule=Decimal(0))
    assert late_fees_due(**common, as_of=due1 + timedelta(days=10), already_assessed=set()) == []
    assert late_fees_due(**common, as_of=due1 + timedelta(days=11), already_assessed=set()) == [(1, fee)]
    assert late_fees_due(**common, as_of=due1 + timedelta(days=11), already_assessed={1}) == []
    two_missed = late_fees_due(**common, as_of=date(2024, 3, 26), already_assessed={1})
    assert two_missed == [(2, fee)]
    assert late_fees_due(**{**common, "fee": Decimal("0.00")}, as_of=date(2024, 6, 1), already_assessed=set()) == []


def test_late_fee_not_charged_when_paid_cumulative_or_per_installment():
    as_of = date(2024, 3, 26)
    paid_first = late_fees_due(installments=ROWS, as_of=as_of, grace_days=10, fee=Decimal(15), already_assessed=set(),
                               amount_paid_toward_schedule=Decimal("888.49"))
    assert paid_first == [(2, Decimal(15))]
    per_installment = late_fees_due(installments=SCHEDULE_A.to_dict()["installments"], as_of=as_of, grace_days=10,
                                    fee=Decimal(15), already_assessed=set(),
                                    paid_by_installment={1: Decimal("888.49"), 2: Decimal("888.48")})
    assert per_installment == [(2, Decimal(15))]


@pytest.mark.parametrize(
    ("paid", "as_of", "dpd"),
    [
        ("0", date(2024, 2, 14), 0),
        ("0", date(2024, 2, 15), 0),  # due today is not past due
        ("0", date(2024, 2, 20), 5),
        ("888.48", date(2024, 2, 20), 5),  # a cent short is still unpaid
        ("888.49", date(2024, 3, 20), 5),  # the first is paid; the second is 5 days late
        ("888.49", date(2024, 3, 15), 0),
        ("0", date(2024, 6, 15), 121),
        ("10661.86", date(2026, 1, 1), 0),
    ],
)
def test_days_past_due_counts_from_the_oldest_unpaid_installment(paid, as_of, dpd):
    assert days_past_due(installments=ROWS, amount_paid_toward_schedule=Decimal(paid), as_of=as_of) == dpd


@pytest.mark.parametrize(
    ("dpd", "bucket"),
    [(0, "current"), (1, "dpd_1_29"), (29, "dpd_1_29"), (30, "dpd_30_59"), (59, "dpd_30_59"), (60, "dpd_60_89"),
     (89, "dpd_60_89"), (90, "dpd_90_119"), (119, "dpd_90_119"), (120, "dpd_120_plus"), (4000, "dpd_120_plus")],
)
def test_delinquency_buckets(dpd, bucket):
    assert delinquency_bucket(dpd) == bucket


def test_delinquency_bucket_rejects_negative():
    with pytest.raises(ValueError):
        delinquency_bucket(-1)


@pytest.mark.parametrize(
    ("fee_type", "value", "mode", "extra", "expected"),
    [
        ("flat", "25.00", "half_even", {}, "25.00"),
        ("percent", "1.5", "half_even", {}, "150.00"),  # 1.5% of 10000.00
        ("percent", "0.005", "half_even", {}, "0.50"),
        ("percent", "2", "half_up", {"maximum": Decimal("100.00")}, "100.00"),
        ("percent", "0.01", "half_up", {"minimum": Decimal("5.00")}, "5.00"),
    ],
)
def test_origination_fee(fee_type, value, mode, extra, expected):
    fee = origination_fee(principal=Decimal("10000.00"), fee_type=fee_type, value=Decimal(value), places=2, mode=mode,
                          **extra)
    assert str(fee.amount) == expected
    json.dumps(fee.explain())


def test_origination_fee_rounds_exact_halves_by_mode():
    # 0.5% of 1.00 = 0.005 exactly
    args = dict(principal=Decimal("1.00"), fee_type="percent", value=Decimal("0.5"), places=2)
    assert str(origination_fee(**args, mode="half_even").amount) == "0.00"
    assert str(origination_fee(**args, mode="half_up").amount) == "0.01"
    with pytest.raises(ValueError):
        origination_fee(**{**args, "fee_type": "tiered"}, mode="half_up")
