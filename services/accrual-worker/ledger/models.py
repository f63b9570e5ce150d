"""The ledger: one account per loan (a cache of its subledger), the subledger rows that explain it
(daily accruals, allocations, fees, non-accrual transitions) and the double-entry journal.

Database-side guarantees (migration 0002): every journal entry balances (deferred constraint trigger),
posted journal entries and lines are immutable (UPDATE/DELETE refused), and the set-based accrual
functions (``ledger_yf_num``/``ledger_round_ratio``) mirror ``common.finance.accrue`` exactly.
"""

from __future__ import annotations

from common.tenancy.models import TenantModel
from django.db import models
from django.db.models import Q

MONEY = {"max_digits": 24, "decimal_places": 8}


class AccountStatus(models.TextChoices):
    OPEN = "open"
    PAID_OFF = "paid_off"
    CHARGED_OFF = "charged_off"
    WRITTEN_OFF = "written_off"


class Account(TenantModel):
    """A loan's account. Balances are a cache: they always equal the sum of the subledger rows."""

    loan_id = models.UUIDField()
    borrower_id = models.CharField(max_length=64, blank=True, default="")
    product_id = models.CharField(max_length=64, blank=True, default="")
    currency = models.CharField(max_length=3)
    # terms and product rules, as received in loans.loan.disbursed.v1
    terms = models.JSONField()
    schedule = models.JSONField()
    annual_rate = models.DecimalField(max_digits=20, decimal_places=12)
    # flat: the interest of each scheduled period, earned evenly over it (common.finance.FlatInterest, SQL
    # ledger_flat_cumulative_interest); declining_balance: on the principal owed (common.finance.accrue)
    interest_method = models.CharField(max_length=32, default="declining_balance", db_default="declining_balance")
    day_count = models.CharField(max_length=16)
    rounding_mode = models.CharField(max_length=16)
    places = models.PositiveSmallIntegerField()
    disbursement_date = models.DateField()
    opening_principal = models.DecimalField(**MONEY)
    origination_fee = models.DecimalField(**MONEY)
    scheduled_fees = models.DecimalField(**MONEY, default=0)
    late_fee = models.DecimalField(**MONEY, default=0)
    grace_days = models.PositiveIntegerField(default=0)
    nsf_fee = models.DecimalField(**MONEY, default=0)
    default_after_days = models.PositiveIntegerField(default=90)
    non_accrual_after_days = models.PositiveIntegerField(default=90)
    arrears_tolerance = models.DecimalField(**MONEY, default=0, db_default=0)   # short by ≤ this: not past due
    allocation_order = models.JSONField()
    # balances (cache of the subledger)
    principal = models.DecimalField(**MONEY)
    interest = models.DecimalField(**MONEY, default=0)
    fees = models.DecimalField(**MONEY, default=0)
    suspense = models.DecimalField(**MONEY, default=0)
    # interest the borrower owes but that is not recognised as income: while the account is in non-accrual
    # (DOMAIN.md: cash basis) it holds the interest reversed at entry plus every day accrued since; a payment
    # that pays it is interest income when received; a cure moves the rest back to ``interest``. The
    # borrower's interest balance is ``interest + interest_suspended``; memo GL accounts mirror it.
    interest_suspended = models.DecimalField(**MONEY, default=0, db_default=0)
    # what the write-off took off the books and is still recoverable (memo): cash received after a write-off pays
    # these in the allocation order and is booked to ``recoveries`` income
    written_off_principal = models.DecimalField(**MONEY, default=0, db_default=0)
    written_off_interest = models.DecimalField(**MONEY, default=0, db_default=0)
    written_off_fees = models.DecimalField(**MONEY, default=0, db_default=0)
    # the last day the account was brought up to before it was charged off (the later of the charge-off's as-of
    # date and the accrual clock then): a replay across the charge-off charges it off there (``replay``)
    charged_off_on = models.DateField(null=True, blank=True)
    # interest clock: accrual = round(principal*rate*yf(interest_since, d)) - interest_posted_since (declining
    # balance); flat: the schedule's cumulative interest through d - interest_posted_since, interest_since fixed
    # at disbursement
    interest_since = models.DateField()
    interest_posted_since = models.DecimalField(**MONEY, default=0)
    last_accrual_date = models.DateField()          # the account is brought up to (and including) this day
    paid_toward_schedule = models.DecimalField(**MONEY, default=0)   # oldest installment first (days past due)
    scheduled_fees_paid = models.DecimalField(**MONEY, default=0)
    # due date of the oldest installment not fully paid (null: none left); kept by every write, it makes
    # days past due a column expression for the set-based daily run
    oldest_unpaid_due = models.DateField(null=True, blank=True)
    sequence = models.PositiveBigIntegerField(default=1)
    status = models.CharField(max_length=16, choices=AccountStatus.choices, default=AccountStatus.OPEN)
    non_accrual = models.BooleanField(default=False)
    days_past_due = models.PositiveIntegerField(default=0)
    bucket = models.CharField(max_length=16, default="current")
    opened_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "ledger_account"
        constraints = [
            models.UniqueConstraint(fields=["tenant_id", "loan_id"], name="ledger_account_one_per_loan"),
            models.CheckConstraint(condition=Q(principal__gte=0) & Q(interest__gte=0) & Q(fees__gte=0)
                                   & Q(suspense__gte=0) & Q(interest_suspended__gte=0),
                                   name="ledger_account_balances_not_negative"),
        ]
        indexes = [models.Index(fields=["tenant_id", "status", "id"], name="ledger_account_open_idx")]


class Installment(models.Model):
    """The schedule as rows, with the running total the set-based days-past-due query needs, and each
    period's start and scheduled interest (the set-based flat-interest accrual)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="installments")
    number = models.PositiveIntegerField()
    period_start = models.DateField(null=True)
    due_date = models.DateField()
    interest = models.DecimalField(**MONEY, null=True)
    total = models.DecimalField(**MONEY)
    cumulative_total = models.DecimalField(**MONEY)

    class Meta:
        db_table = "ledger_installment"
        constraints = [models.UniqueConstraint(fields=["account", "number"], name="ledger_installment_once")]
        indexes = [models.Index(fields=["account", "cumulative_total"], name="ledger_installment_cum_idx")]


class Accrual(models.Model):
    """Interest accrued on one day (the day ending on accrual_date), cumulative-rounded on its clock;
    ``suspended``: accrued in non-accrual, owed by the borrower but not recognised as income (memo only)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="accruals")
    accrual_date = models.DateField()
    amount = models.DecimalField(**MONEY)
    cumulative = models.DecimalField(**MONEY)
    since = models.DateField()
    balance = models.DecimalField(**MONEY)
    suspended = models.BooleanField(default=False, db_default=False)
    reversed = models.BooleanField(default=False)

    class Meta:
        db_table = "ledger_accrual"
        constraints = [models.UniqueConstraint(fields=["account", "accrual_date"], condition=Q(reversed=False),
                                               name="ledger_accrual_once_per_day")]


class Allocation(TenantModel):
    """A payment applied to an account; ``reversed`` once returned. Idempotent on payment_id."""

    payment_id = models.UUIDField(unique=True)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="allocations")
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    value_date = models.DateField()
    arrival = models.PositiveBigIntegerField()      # order of arrival, to replay same-day payments in order
    fees = models.DecimalField(**MONEY)
    interest = models.DecimalField(**MONEY)
    # of ``interest``, what was paid from suspended interest (non-accrual): income on a cash basis
    interest_suspended = models.DecimalField(**MONEY, default=0, db_default=0)
    principal = models.DecimalField(**MONEY)
    overpayment = models.DecimalField(**MONEY)
    # the account's status when the payment was applied: ``open`` (also paid off), ``charged_off`` (a collection:
    # it pays the balances and releases the allowance) or ``written_off`` (a recovery: income)
    stage = models.CharField(max_length=16, default="open", db_default="open")
    trace = models.JSONField(default=list)
    reversed = models.BooleanField(default=False)
    reversed_on = models.DateField(null=True, blank=True)
    reversal_reason = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "ledger_allocation"


class Fee(models.Model):
    """A fee assessed on the account: late (once per installment) or NSF (once per returned payment)."""

    LATE = "late_fee"
    NSF = "nsf_fee"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="assessed_fees")
    kind = models.CharField(max_length=16)
    installment_number = models.PositiveIntegerField(null=True, blank=True)
    payment_id = models.UUIDField(null=True, blank=True)
    assessed_on = models.DateField()
    amount = models.DecimalField(**MONEY)
    reversed = models.BooleanField(default=False)

    class Meta:
        db_table = "ledger_fee"
        constraints = [
            models.UniqueConstraint(fields=["account", "installment_number"], name="ledger_late_fee_once",
                                    condition=Q(kind="late_fee", reversed=False)),
            models.UniqueConstraint(fields=["account", "payment_id"], name="ledger_nsf_fee_once",
                                    condition=Q(kind="nsf_fee", reversed=False)),
        ]


class NonAccrual(models.Model):
    """Entry into non-accrual (``interest``: the accrued, uncollected interest reversed out of income into
    suspended interest) or cure (``interest``: the suspended interest still owed, recognised again)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="non_accrual_events")
    kind = models.CharField(max_length=8)           # start | cure
    effective_date = models.DateField()
    interest = models.DecimalField(**MONEY, default=0)
    # written by the earlier rule, which forgave the interest: the entry was posted to income and receivable
    # only (no memo pair) and nothing was suspended; a replay reverses it as it was posted (migration 0006)
    legacy = models.BooleanField(default=False, db_default=False)
    reversed = models.BooleanField(default=False)

    class Meta:
        db_table = "ledger_non_accrual"


class AccrualRun(TenantModel):
    """A portfolio run; its row lock serializes the run's dispatch and progress bookkeeping."""

    run_id = models.UUIDField(unique=True)
    through = models.DateField()
    status = models.CharField(max_length=16, default="running")
    accounts_total = models.PositiveIntegerField(default=0)
    accounts_done = models.PositiveIntegerField(default=0)
    chunks_total = models.PositiveIntegerField(default=0)
    bounds = models.JSONField(default=list)         # [[first id, last id], ...] of each chunk
    chunks_done = models.JSONField(default=list)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "ledger_accrual_run"


class GLAccount(models.TextChoices):
    LOANS_RECEIVABLE = "loans_receivable"
    INTEREST_RECEIVABLE = "interest_receivable"
    INTEREST_INCOME = "interest_income"
    FEES_RECEIVABLE = "fees_receivable"
    FEE_INCOME = "fee_income"
    CASH_CLEARING = "cash_clearing"
    BORROWER_SUSPENSE = "borrower_suspense"
    PROVISION_FOR_LOSSES = "provision_for_losses"
    ALLOWANCE_FOR_LOSSES = "allowance_for_losses"
    RECOVERIES = "recoveries"           # income: cash received on loans already written off
    # memo (off-balance-sheet) pair: interest owed by a non-accrual loan and not recognised as income
    SUSPENDED_INTEREST = "suspended_interest"
    SUSPENDED_INTEREST_CONTRA = "suspended_interest_contra"


class JournalEntry(TenantModel):
    """One balanced posting. ``account`` is null for summarized entries (portfolio accrual per product
    and day). Immutable once written; corrections are new (reversing) entries."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, null=True, blank=True, related_name="entries")
    kind = models.CharField(max_length=32)
    effective_date = models.DateField()
    reference = models.CharField(max_length=128, blank=True, default="")
    product_id = models.CharField(max_length=64, blank=True, default="")
    memo = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "ledger_journal_entry"
        indexes = [models.Index(fields=["tenant_id", "kind", "effective_date"], name="ledger_entry_kind_idx")]


class JournalLine(models.Model):
    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="lines")
    gl_account = models.CharField(max_length=32, choices=GLAccount.choices)
    debit = models.DecimalField(**MONEY, default=0)
    credit = models.DecimalField(**MONEY, default=0)

    class Meta:
        db_table = "ledger_journal_line"
        constraints = [
            models.CheckConstraint(condition=Q(debit__gte=0) & Q(credit__gte=0) & (Q(debit=0) | Q(credit=0)),
                                   name="ledger_line_one_side"),
        ]
