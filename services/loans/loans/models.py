"""Loans tables: products, loans (with their balance projection), schedule rows, ledger transactions
seen for a loan, and portfolio accrual runs. Every table is tenant-owned; constraints live in the DB."""

from __future__ import annotations

import uuid
from decimal import Decimal

from common.idempotency import IdempotencyRecordBase
from common.tenancy.models import TenantModel
from django.db import models
from django.db.models import Q

MONEY = {"max_digits": 20, "decimal_places": 4}
ZERO = Decimal(0)


class LoanStatus(models.TextChoices):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    CANCELLED = "cancelled"
    ACTIVE = "active"
    PAID_OFF = "paid_off"
    DEFAULTED = "defaulted"
    CHARGED_OFF = "charged_off"
    WRITTEN_OFF = "written_off"


class Product(TenantModel):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    currency = models.CharField(max_length=3)
    annual_rate = models.DecimalField(max_digits=12, decimal_places=8)
    term_min = models.PositiveIntegerField()
    term_max = models.PositiveIntegerField()
    frequency = models.CharField(max_length=16)
    interest_method = models.CharField(max_length=32)
    amortization = models.CharField(max_length=32)
    day_count = models.CharField(max_length=16)
    rounding_mode = models.CharField(max_length=16)
    rounding_places = models.PositiveSmallIntegerField()
    origination_fee_type = models.CharField(max_length=16)
    origination_fee_value = models.DecimalField(**MONEY)
    late_fee_amount = models.DecimalField(**MONEY)
    grace_days = models.PositiveIntegerField()
    default_after_days = models.PositiveIntegerField()
    non_accrual_after_days = models.PositiveIntegerField(default=90)
    arrears_tolerance = models.DecimalField(default=0, db_default=0, **MONEY)   # not past due while short by ≤ this
    nsf_fee = models.DecimalField(default=ZERO, **MONEY)
    four_eyes = models.BooleanField(default=False)
    allocation_order = models.JSONField()
    created_by = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(term_min__gte=1) & Q(term_min__lte=models.F("term_max")),
                                   name="product_term_range"),
            models.CheckConstraint(condition=Q(annual_rate__gte=0) & Q(annual_rate__lte=1), name="product_rate_range"),
            models.CheckConstraint(condition=Q(rounding_places__lte=4), name="product_rounding_places"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.currency} {self.annual_rate})"


class Loan(TenantModel):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    borrower_id = models.UUIDField(db_index=True)
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="loans")
    status = models.CharField(max_length=16, choices=LoanStatus.choices, default=LoanStatus.PENDING, db_index=True)
    principal = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    term = models.PositiveIntegerField()
    annual_rate = models.DecimalField(max_digits=12, decimal_places=8)
    disbursement_date = models.DateField(null=True, blank=True)
    first_payment_date = models.DateField(null=True, blank=True)
    origination_fee = models.DecimalField(default=ZERO, **MONEY)

    created_by = models.CharField(max_length=200)
    approved_by = models.CharField(max_length=200, blank=True, default="")
    approved_at = models.DateTimeField(null=True, blank=True)
    denied_by = models.CharField(max_length=200, blank=True, default="")
    denied_at = models.DateTimeField(null=True, blank=True)
    denial_reason = models.TextField(blank=True, default="")
    cancelled_by = models.CharField(max_length=200, blank=True, default="")
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancellation_reason = models.TextField(blank=True, default="")
    disbursed_by = models.CharField(max_length=200, blank=True, default="")
    disbursed_at = models.DateTimeField(null=True, blank=True)
    paid_off_at = models.DateTimeField(null=True, blank=True)
    defaulted_at = models.DateTimeField(null=True, blank=True)
    charged_off_by = models.CharField(max_length=200, blank=True, default="")
    charged_off_at = models.DateTimeField(null=True, blank=True)
    charge_off_reason = models.TextField(blank=True, default="")
    written_off_by = models.CharField(max_length=200, blank=True, default="")
    written_off_at = models.DateTimeField(null=True, blank=True)
    write_off_reason = models.TextField(blank=True, default="")

    # Balance projection, fed by ledger events (sequence-guarded: stale events are ignored).
    balance_principal = models.DecimalField(default=ZERO, **MONEY)
    balance_interest = models.DecimalField(default=ZERO, **MONEY)
    balance_fees = models.DecimalField(default=ZERO, **MONEY)
    balance_total = models.DecimalField(default=ZERO, **MONEY)
    balance_sequence = models.BigIntegerField(default=0)
    days_past_due = models.PositiveIntegerField(default=0)
    delinquency_bucket = models.CharField(max_length=16, default="current")
    delinquency_sequence = models.BigIntegerField(default=0)
    non_accrual = models.BooleanField(default=False)
    last_accrual_date = models.DateField(null=True, blank=True)
    accrual_since = models.DateField(null=True, blank=True)
    interest_accrued_since = models.DecimalField(default=ZERO, **MONEY)
    # the ledger's oldest installment not fully paid (null: every one is, or no ledger report yet); with
    # last_accrual_date it tells the payoff quote which late fees fall due by its date
    oldest_unpaid_due = models.DateField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(principal__gt=0), name="loan_principal_positive"),
            models.CheckConstraint(condition=Q(term__gte=1), name="loan_term_positive"),
            models.CheckConstraint(condition=Q(status__in=LoanStatus.values), name="loan_status_known"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "approved", "denied", "cancelled"])
                | Q(disbursement_date__isnull=False),
                name="loan_disbursed_has_date",
            ),
        ]

    def __str__(self) -> str:
        return f"loan {self.id} ({self.status})"


class ScheduleInstallment(TenantModel):
    """One row of the schedule stored at disbursement (the engine's output, never recomputed)."""

    loan = models.ForeignKey(Loan, on_delete=models.CASCADE, related_name="installments")
    number = models.PositiveIntegerField()
    due_date = models.DateField()
    principal = models.DecimalField(**MONEY)
    interest = models.DecimalField(**MONEY)
    fees = models.DecimalField(**MONEY)
    total = models.DecimalField(**MONEY)
    balance_after = models.DecimalField(**MONEY)

    class Meta:
        ordering = ["loan", "number"]
        constraints = [models.UniqueConstraint(fields=["loan", "number"], name="schedule_installment_once")]


class LoanTransaction(TenantModel):
    """A ledger movement seen for a loan (accrual, payment, fee, reversal...)."""

    loan = models.ForeignKey(Loan, on_delete=models.CASCADE, related_name="transactions")
    transaction_id = models.CharField(max_length=128)
    kind = models.CharField(max_length=32)
    effective_date = models.DateField()
    amount = models.DecimalField(**MONEY)
    breakdown = models.JSONField(default=dict)
    reference = models.CharField(max_length=128, blank=True, default="")
    sequence = models.BigIntegerField(default=0)
    # True for a row an earlier version recorded from a payment event before the ledger's own transaction_posted
    # arrived (taken over by it, loans.projection.transaction_posted_apply); no longer written.
    derived = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["effective_date", "sequence", "created_at"]
        constraints = [models.UniqueConstraint(fields=["tenant_id", "transaction_id"], name="loan_transaction_once")]
        # the rows listed before their ledger record (derived by an earlier version, or a re-split that overtook
        # its payment) only: loans.projection.transaction_posted_apply looks them up
        indexes = [models.Index(fields=["loan", "kind", "reference"], condition=Q(derived=True),
                                name="loan_transaction_derived")]


class AccrualRunStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class AccrualRun(TenantModel):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    through = models.DateField()
    status = models.CharField(max_length=16, choices=AccrualRunStatus.choices, default=AccrualRunStatus.QUEUED)
    accounts_total = models.PositiveIntegerField(default=0)
    accounts_done = models.PositiveIntegerField(default=0)
    requested_by = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=AccrualRunStatus.values), name="accrual_run_status_known"),
        ]


class IdempotencyRecord(IdempotencyRecordBase):
    """An ``Idempotency-Key`` of a tenant used on a create (product, loan, accrual run), with the
    response sent and the id of what it created (``common.idempotency``)."""

    resource_id = models.UUIDField(null=True, blank=True)
