"""Django admin for payments: read-mostly views across tenants (the admin has no tenant context)."""

from django.contrib import admin

from payments.models import IdempotencyRecord, Payment, ProcessorCallback


class AllTenantsAdmin(admin.ModelAdmin):
    def get_queryset(self, request):
        # The default manager fails closed without a tenant; the admin is the explicit unscoped door.
        return self.model.all_tenants.all()


@admin.register(Payment)
class PaymentAdmin(AllTenantsAdmin):
    list_display = ("id", "tenant_id", "loan_id", "amount", "currency", "method", "value_date", "status",
                    "processor_reference", "charge_attempts", "created_at")
    list_filter = ("status", "method", "currency", "tenant_id")
    search_fields = ("id", "loan_id", "processor_reference")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Payment._meta.fields]

    def has_add_permission(self, request):
        return False          # payments come in through the API, with their idempotency key and events

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(AllTenantsAdmin):
    list_display = ("key", "tenant_id", "state", "response_status", "payment_id", "created_at")
    list_filter = ("state", "tenant_id")
    search_fields = ("key",)
    readonly_fields = [f.name for f in IdempotencyRecord._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(ProcessorCallback)
class ProcessorCallbackAdmin(admin.ModelAdmin):
    list_display = ("event_id", "event_type", "payment_id", "tenant_id", "outcome", "received_at")
    list_filter = ("event_type", "outcome")
    search_fields = ("event_id", "payment_id")
    readonly_fields = [f.name for f in ProcessorCallback._meta.fields]

    def has_add_permission(self, request):
        return False
