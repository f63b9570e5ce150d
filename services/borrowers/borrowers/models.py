"""Borrowers: one row per person a tenant lends to."""

from __future__ import annotations

import uuid

from common.tenancy import TenantModel
from django.db import models
from django.db.models.functions import Lower


class KycStatus(models.TextChoices):
    PENDING = "pending"
    VERIFIED = "verified"
    FAILED = "failed"


class Borrower(TenantModel):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    email = models.CharField(max_length=254)
    phone = models.CharField(max_length=32, null=True, blank=True)
    date_of_birth = models.DateField(null=True, blank=True)
    # A postal address as entered: either one free-text string (≤ 500 chars) or an object
    # {"line1", "line2"?, "city", "region"?, "postal_code"?, "country"} — see schemas.AddressIn.
    address = models.JSONField(null=True, blank=True)
    # The identity provider's reference of the successful verification.
    identity_reference = models.CharField(max_length=128, null=True, blank=True)
    kyc_status = models.CharField(max_length=16, choices=KycStatus.choices, default=KycStatus.PENDING)
    kyc_reason = models.CharField(max_length=500, null=True, blank=True)
    kyc_checked_at = models.DateTimeField(null=True, blank=True)
    # Optimistic concurrency: bumped by every change of the borrower's own data (not by KYC results).
    version = models.PositiveIntegerField(default=1)
    created_by = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(kyc_status__in=KycStatus.values), name="borrower_kyc_status_valid"),
            models.CheckConstraint(condition=models.Q(version__gte=1), name="borrower_version_positive"),
        ]
        # Email is contact data, not identity: a household or a co-borrower may share one (Fineract does not make
        # it unique either); the index finds a tenant's borrowers by it, case-insensitively.
        indexes = [
            models.Index(Lower("email"), "tenant_id", name="borrower_tenant_email"),
            models.Index(fields=["tenant_id", "kyc_status", "updated_at"], name="borrower_kyc_sweep"),
            models.Index(fields=["tenant_id", "-created_at"], name="borrower_tenant_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name} <{self.email}>"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


class CreateIdempotencyKey(TenantModel):
    """An ``Idempotency-Key`` used to create a borrower, written in the create's own transaction."""

    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    borrower = models.ForeignKey(Borrower, on_delete=models.CASCADE, related_name="+")
    response_body = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant_id", "key"], name="borrower_idempotency_key_once")]
