"""Django admin for borrowers: every tenant (``all_tenants``), tenant visible, search by name and email.

Read-only on purpose: a change made here would bypass the version check, the object grants and the
outbox (no ``borrowers.borrower.updated.v1``); borrowers are created and changed through the API.
"""

from __future__ import annotations

from django.contrib import admin

from borrowers.models import Borrower


@admin.register(Borrower)
class BorrowerAdmin(admin.ModelAdmin):
    list_display = ("last_name", "first_name", "email", "tenant_id", "kyc_status", "version", "created_at")
    list_filter = ("tenant_id", "kyc_status")
    search_fields = ("first_name", "last_name", "email", "=id")
    ordering = ("tenant_id", "last_name", "first_name")
    readonly_fields = ("id", "tenant_id", "first_name", "last_name", "email", "phone", "date_of_birth", "address",
                       "identity_reference", "kyc_status", "kyc_reason", "kyc_checked_at", "version", "created_by",
                       "created_at", "updated_at")

    def get_queryset(self, request):
        # The admin is not a tenant's user: it looks across tenants explicitly, never through the scoped manager.
        return Borrower.all_tenants.all()

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
