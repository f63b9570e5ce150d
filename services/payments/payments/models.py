"""Payments, the idempotency keys that created them, and the processor callbacks already applied.

Lifecycle (guarded in ``payments.services``): ``pending → settled → allocated``, ``pending → failed``,
``settled | allocated → returned``. Amounts are exact decimals; the currency decides how many places
are meaningful (``common.money``).
"""

from __future__ import annotations

import uuid

from common.idempotency import IdempotencyRecordBase
from common.tenancy import TenantModel
from django.db import models
from django.db.models import Q


class PaymentStatus(models.TextChoices):
    PENDING = "pending"
    SETTLED = "settled"
    ALLOCATED = "allocated"
    FAILED = "failed"
    RETURNED = "returned"


class PaymentMethod(models.TextChoices):
    ACH = "ach"
    CARD = "card"
    CASH = "cash"


# Which status may follow which: a replayed or late message can never move a payment backwards.
TRANSITIONS: dict[str, frozenset[str]] = {
    PaymentStatus.PENDING: frozenset({PaymentStatus.SETTLED, PaymentStatus.FAILED}),
    PaymentStatus.SETTLED: frozenset({PaymentStatus.ALLOCATED, PaymentStatus.RETURNED}),
    PaymentStatus.ALLOCATED: frozenset({PaymentStatus.RETURNED}),
    PaymentStatus.FAILED: frozenset(),
    PaymentStatus.RETURNED: frozenset(),
}

MONEY = {"max_digits": 20, "decimal_places": 3}   # 15 integer digits, up to 3 minor units (KWD, BHD)


class Payment(TenantModel):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    loan_id = models.UUIDField(db_index=True)
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    method = models.CharField(max_length=8, choices=PaymentMethod.choices)
    value_date = models.DateField()
    status = models.CharField(max_length=16, choices=PaymentStatus.choices, default=PaymentStatus.PENDING)

    # The ledger's allocation (ledger.payment.allocated.v1), with the trace that explains it; the ledger account's
    # sequence of the event it came from (a back-dated payment or a return before this one re-splits it: the
    # event with the newest sequence wins, an older one arriving late is ignored).
    allocation_sequence = models.PositiveBigIntegerField(null=True, blank=True)
    allocated_fees = models.DecimalField(null=True, blank=True, **MONEY)
    allocated_interest = models.DecimalField(null=True, blank=True, **MONEY)
    allocated_principal = models.DecimalField(null=True, blank=True, **MONEY)
    allocated_overpayment = models.DecimalField(null=True, blank=True, **MONEY)
    allocation_trace = models.JSONField(default=list, blank=True)

    # The processor side: the charge, its retries while the processor is unreachable, its outcome.
    processor_reference = models.CharField(max_length=64, blank=True, default="")
    charge_attempts = models.PositiveIntegerField(default=0)
    next_charge_at = models.DateTimeField(null=True, blank=True)
    last_charge_error = models.TextField(blank=True, default="")
    failure_reason = models.CharField(max_length=255, blank=True, default="")
    return_reason = models.CharField(max_length=255, blank=True, default="")

    created_by = models.CharField(max_length=128, blank=True, default="")
    # the correlation id of the request that recorded it: the processor's callback and the sweep carry it on, so
    # one id follows the payment from the POST through settlement and the ledger's allocation
    correlation_id = models.CharField(max_length=64, blank=True, default="", db_default="")
    settled_at = models.DateTimeField(null=True, blank=True)
    allocated_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    returned_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-created_at", "id"]
        indexes = [
            models.Index(fields=["tenant_id", "loan_id", "-created_at"], name="payment_by_loan"),
            models.Index(fields=["tenant_id", "status", "-created_at"], name="payment_by_status"),
            models.Index(fields=["next_charge_at"], name="payment_charge_due",
                         condition=Q(status="pending", processor_reference="")),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(condition=Q(status__in=PaymentStatus.values), name="payment_status_known"),
            models.CheckConstraint(condition=Q(method__in=PaymentMethod.values), name="payment_method_known"),
            models.CheckConstraint(
                condition=~Q(status="allocated") | Q(allocated_principal__isnull=False),
                name="payment_allocated_has_breakdown"),
        ]

    def __str__(self) -> str:
        return f"payment {self.id} {self.amount} {self.currency} {self.status}"

    @property
    def has_allocation(self) -> bool:
        return self.allocated_principal is not None


class IdempotencyRecord(IdempotencyRecordBase):
    """One ``Idempotency-Key`` of a tenant (``common.idempotency``) and the payment it created."""

    payment = models.ForeignKey(Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="+")


class ProcessorCallback(models.Model):
    """A processor callback already applied: the unique event id makes a replay a no-op."""

    id = models.BigAutoField(primary_key=True)
    event_id = models.CharField(max_length=64, unique=True)
    event_type = models.CharField(max_length=32)
    payment_id = models.UUIDField(db_index=True)
    tenant_id = models.CharField(max_length=64)
    outcome = models.CharField(max_length=32)        # applied | ignored (a transition the status forbids)
    received_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id} → {self.outcome}"
