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

Backfill, accounts in non-accrual now: the interest reversed at their last entry becomes suspended interest
again, with its memo entry (kind ``non_accrual_backfill``). Their accrual clock was left where it stopped,
so the first accrual after the upgrade catches the days since up, into suspended interest, on both paths.
Payments such accounts received in non-accrual under the earlier version went to principal; they are not
re-allocated here (that is the replay path's work, not a migration's). Run it with the ledger worker stopped
(docs/deploy.md).
"""

from django.db import migrations, models

BACKFILL = r"""
WITH last_entry AS (
    SELECT DISTINCT ON (n.account_id) n.account_id, n.interest, n.effective_date
      FROM ledger_non_accrual n JOIN ledger_account a ON a.id = n.account_id
     WHERE a.non_accrual AND a.status = 'open' AND n.kind = 'start' AND NOT n.reversed
     ORDER BY n.account_id, n.effective_date DESC, n.id DESC
), updated AS (
    UPDATE ledger_account a SET interest_suspended = e.interest
      FROM last_entry e
     WHERE a.id = e.account_id AND e.interest > 0
    RETURNING a.id, a.tenant_id, a.product_id, e.interest, e.effective_date
), entries AS (
    INSERT INTO ledger_journal_entry (tenant_id, account_id, kind, effective_date, reference, product_id, memo,
                                      created_at)
    SELECT u.tenant_id, u.id, 'non_accrual_backfill', u.effective_date, 'migration 0006', u.product_id,
           jsonb_build_object('cause', 'interest reversed at non-accrual kept owed (cash basis)'), now()
      FROM updated u
    RETURNING id, account_id
)
INSERT INTO ledger_journal_line (entry_id, gl_account, debit, credit)
SELECT e.id, side.gl, side.debit, side.credit
  FROM entries e JOIN updated u ON u.id = e.account_id,
       LATERAL (VALUES ('suspended_interest', u.interest, 0::numeric),
                       ('suspended_interest_contra', 0::numeric, u.interest)) AS side(gl, debit, credit);
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
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
    ]
