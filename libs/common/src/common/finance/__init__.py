"""LendSimple finance engine: pure functions (no Django), exact Decimal/Fraction arithmetic.

Day counts, rounding, schedules, daily accrual, payoff quotes, payment allocation, fees and delinquency.
The loans service and the accrual worker call the same functions, so a preview equals what is posted.
Conventions: docs/finance.md.
"""

from common.finance.accrual import ACCRUAL_RULE, Accrual, accrue, daily_accruals, iter_daily_accruals
from common.finance.allocation import BUCKETS as ALLOCATION_BUCKETS
from common.finance.allocation import DEFAULT_ORDER, Allocation, AllocationStep, allocate, check_order
from common.finance.dates import FREQUENCIES, PERIODS_PER_YEAR, add_months, add_periods, due_dates
from common.finance.daycount import DAY_COUNT_RULES, DAY_COUNTS, day_count_days, year_fraction
from common.finance.delinquency import BUCKETS as DELINQUENCY_BUCKETS
from common.finance.delinquency import days_past_due, delinquency_bucket, unpaid_installments
from common.finance.fees import FEE_TYPES, FeeAmount, late_fees_due, origination_fee
from common.finance.flat import FLAT_ACCRUAL_RULE, FlatAccrual, FlatInterest, FlatPeriod
from common.finance.payoff import PayoffQuote, payoff_quote
from common.finance.rounding import ROUNDING_MODES, round_money
from common.finance.schedule import (
    AMORTIZATIONS,
    INTEREST_METHODS,
    Installment,
    LoanTerms,
    Schedule,
    generate_schedule,
    level_installment,
)

__all__ = [
    "ACCRUAL_RULE", "ALLOCATION_BUCKETS", "AMORTIZATIONS", "DAY_COUNTS", "DAY_COUNT_RULES", "DEFAULT_ORDER",
    "DELINQUENCY_BUCKETS", "FEE_TYPES", "FLAT_ACCRUAL_RULE", "FREQUENCIES", "INTEREST_METHODS", "PERIODS_PER_YEAR", "ROUNDING_MODES",
    "Accrual", "Allocation", "AllocationStep", "FeeAmount", "FlatAccrual", "FlatInterest", "FlatPeriod", "Installment", "LoanTerms", "PayoffQuote", "Schedule",
    "accrue", "add_months", "add_periods", "allocate", "check_order", "daily_accruals", "day_count_days",
    "days_past_due", "delinquency_bucket", "due_dates", "generate_schedule", "iter_daily_accruals",
    "late_fees_due", "level_installment", "origination_fee", "payoff_quote", "round_money", "unpaid_installments",
    "year_fraction",
]
