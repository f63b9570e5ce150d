"""Non-accrual keeps interest owed (DOMAIN.md: "recognize interest on a cash basis"), instead of forgiving it.

The earlier version reversed a non-accrual loan's accrued interest and accrued nothing more until it was
cured: the borrower then owed neither, and every payment went to principal. Now:

- ``ledger_account.interest_suspended``: interest owed but not recognised as income (the memo GL pair
  ``suspended_interest`` / ``suspended_interest_contra`` mirrors it);
- ``ledger_accrual.suspended``: a day accrued in non-accrual (memo only);
- ``ledger_allocation.interest_suspended``: the part of a payment's interest that paid suspended interest
  (income when received);
- ``ledger_non_accrual.interest`` (was ``interest_reversed``): at entry the interest moved out of income into
  suspense, at a cure what is moved back.

Existing non-accrual rows are marked ``legacy``: they were posted by the earlier rule (income and
receivable only, nothing suspended), and a replay reverses them as they were posted. The frozen interest
clock of an open account in non-accrual is moved to its accrual date (``RESTART_FROZEN_CLOCKS``), so it
accrues from the upgrade on and not a catch-up of the days the earlier rule skipped. Nothing is re-posted
here: correcting the history is ``manage.py restate_non_accrual`` (a dry run first, then ``--apply``), which
rebuilds each open account with such history under the current rule and reports its balances; see
docs/deploy.md. Run this with the ledger worker stopped.
"""

from django.db import migrations, models

MARK_LEGACY = "UPDATE ledger_non_accrual SET legacy = true"

# An open account in non-accrual now had its interest clock frozen by the earlier rule (at entry, or at its
# last principal payment) while its accrual date moved on. Left so, the current rule's first accrual would
# charge every skipped day at once, unreviewed. Its clock is moved to its accrual date instead: from the
# upgrade on it accrues (into suspense) like any other; the skipped days are the restatement's to decide.
RESTART_FROZEN_CLOCKS = """
UPDATE ledger_account
   SET interest_since = CASE WHEN interest_method = 'flat' THEN interest_since ELSE last_accrual_date END,
       interest_posted_since = CASE WHEN interest_method = 'flat'
                                    THEN ledger_flat_cumulative_interest(id, last_accrual_date, places, rounding_mode)
                                    ELSE 0 END
 WHERE status = 'open' AND non_accrual
"""


class Migration(migrations.Migration):
    dependencies = [("ledger", "0005_flat_interest_accrual")]

    operations = [
        migrations.RemoveConstraint(model_name="account", name="ledger_account_balances_not_negative"),
        migrations.RenameField(model_name="nonaccrual", old_name="interest_reversed", new_name="interest"),
        migrations.AddField(
            model_name="account", name="interest_suspended",
            field=models.DecimalField(db_default=0, decimal_places=8, default=0, max_digits=24),
        ),
        migrations.AddField(
            model_name="accrual", name="suspended", field=models.BooleanField(db_default=False, default=False),
        ),
        migrations.AddField(
            model_name="nonaccrual", name="legacy", field=models.BooleanField(db_default=False, default=False),
        ),
        migrations.AddField(
            model_name="allocation", name="interest_suspended",
            field=models.DecimalField(db_default=0, decimal_places=8, default=0, max_digits=24),
        ),
        migrations.AlterField(
            model_name="journalline", name="gl_account",
            field=models.CharField(choices=[
                ("loans_receivable", "Loans Receivable"), ("interest_receivable", "Interest Receivable"),
                ("interest_income", "Interest Income"), ("fees_receivable", "Fees Receivable"),
                ("fee_income", "Fee Income"), ("cash_clearing", "Cash Clearing"),
                ("borrower_suspense", "Borrower Suspense"), ("provision_for_losses", "Provision For Losses"),
                ("allowance_for_losses", "Allowance For Losses"), ("suspended_interest", "Suspended Interest"),
                ("suspended_interest_contra", "Suspended Interest Contra")], max_length=32),
        ),
        migrations.AddConstraint(
            model_name="account",
            constraint=models.CheckConstraint(
                condition=models.Q(("principal__gte", 0), ("interest__gte", 0), ("fees__gte", 0), ("suspense__gte", 0),
                                   ("interest_suspended__gte", 0)),
                name="ledger_account_balances_not_negative"),
        ),
        migrations.RunSQL(MARK_LEGACY, migrations.RunSQL.noop),
        migrations.RunSQL(RESTART_FROZEN_CLOCKS, migrations.RunSQL.noop),
    ]
