"""Django admin for products and loans. The admin works across tenants (the unscoped manager),
shows the tenant of every row, and keeps the lifecycle and the projection read-only: those change only
through the API's guarded transitions and the ledger's events."""

from django.contrib import admin

from loans.models import AccrualRun, Loan, LoanTransaction, Product, ScheduleInstallment


class AllTenantsAdmin(admin.ModelAdmin):
    def get_queryset(self, request):
        return self.model.all_tenants.get_queryset()


@admin.register(Product)
class ProductAdmin(AllTenantsAdmin):
    list_display = ("name", "tenant_id", "currency", "annual_rate", "term_min", "term_max", "frequency",
                    "interest_method", "day_count", "created_at")
    list_filter = ("tenant_id", "currency", "frequency", "interest_method")
    search_fields = ("name", "tenant_id")
    readonly_fields = ("id", "tenant_id", "created_by", "created_at", "updated_at")


class ScheduleInline(admin.TabularInline):
    model = ScheduleInstallment
    extra = 0
    can_delete = False
    readonly_fields = ("number", "due_date", "principal", "interest", "fees", "total", "balance_after")

    def get_queryset(self, request):
        return ScheduleInstallment.all_tenants.get_queryset()

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Loan)
class LoanAdmin(AllTenantsAdmin):
    list_display = ("id", "tenant_id", "status", "principal", "currency", "term", "borrower_id",
                    "days_past_due", "created_at")
    list_filter = ("tenant_id", "status", "currency")
    search_fields = ("id", "borrower_id", "tenant_id")
    inlines = [ScheduleInline]
    readonly_fields = [f.name for f in Loan._meta.concrete_fields]

    def has_add_permission(self, request):
        return False


@admin.register(AccrualRun)
class AccrualRunAdmin(AllTenantsAdmin):
    list_display = ("id", "tenant_id", "through", "status", "accounts_done", "accounts_total", "created_at")
    list_filter = ("tenant_id", "status")
    readonly_fields = [f.name for f in AccrualRun._meta.concrete_fields]


@admin.register(LoanTransaction)
class LoanTransactionAdmin(AllTenantsAdmin):
    list_display = ("transaction_id", "tenant_id", "loan_id", "kind", "effective_date", "amount")
    list_filter = ("tenant_id", "kind")
    readonly_fields = [f.name for f in LoanTransaction._meta.concrete_fields]
