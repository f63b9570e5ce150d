"""Flat-interest loans accrue their scheduled interest, not interest on the principal owed.

- ``ledger_account.interest_method`` (from the terms received at disbursement);
- ``ledger_installment.period_start`` / ``interest``: each period and its scheduled interest, so the
  portfolio run can compute a flat loan's clock set-based;
- ``ledger_flat_cumulative_interest(account, through, places, mode)``: exactly
  ``common.finance.FlatInterest.cumulative`` (tests compare them): the interest of the periods due on or
  before ``through`` plus the running period's interest × elapsed days / its days, rounded.

Flat accounts are backfilled from their stored terms and schedule, and their clock is moved onto the
schedule's as of their last accrual day (declining-balance accounts are untouched). What they under-accrued
before is not re-posted here: that is a back-dated correction for the replay path, not something a migration
should post silently. Run it with the ledger worker stopped (docs/deploy.md): a worker of the earlier version
would open a flat loan's account without its method and periods.
"""

from django.db import migrations, models

FUNCTION = r"""
CREATE FUNCTION ledger_flat_cumulative_interest(account bigint, through date, places integer, mode text)
RETURNS numeric LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(sum(CASE WHEN i.due_date <= through THEN i.interest
                             ELSE ledger_round_ratio(i.interest * (through - i.period_start) * (10::numeric ^ places),
                                                     (i.due_date - i.period_start)::numeric, mode)
                                  / (10::numeric ^ places) END), 0)
      FROM ledger_installment i
     WHERE i.account_id = account AND i.period_start < through
$$;
"""

# Flat accounts only (the others keep the column default and need no period rows): their method, their periods,
# and their clock moved onto the schedule's, as of the day they were accrued to, so the next day posts one day
# of flat interest and not a catch-up of everything since disbursement the declining clock never counted.
BACKFILL = r"""
UPDATE ledger_account SET interest_method = 'flat' WHERE terms->>'interest_method' = 'flat';

UPDATE ledger_installment i
   SET interest = (s.row->>'interest')::numeric
  FROM ledger_account a, jsonb_array_elements(a.schedule->'installments') AS s(row)
 WHERE a.interest_method = 'flat' AND a.id = i.account_id AND (s.row->>'number')::int = i.number;

UPDATE ledger_installment i
   SET period_start = coalesce(p.previous_due, a.disbursement_date)
  FROM (SELECT id, lag(due_date) OVER (PARTITION BY account_id ORDER BY number) AS previous_due
          FROM ledger_installment
         WHERE account_id IN (SELECT id FROM ledger_account WHERE interest_method = 'flat')) p, ledger_account a
 WHERE a.interest_method = 'flat' AND p.id = i.id AND a.id = i.account_id;

UPDATE ledger_account
   SET interest_since = disbursement_date,
       interest_posted_since = ledger_flat_cumulative_interest(id, last_accrual_date, places, rounding_mode)
 WHERE interest_method = 'flat';
"""

REVERSE = "DROP FUNCTION IF EXISTS ledger_flat_cumulative_interest(bigint, date, integer, text);"


class Migration(migrations.Migration):
    dependencies = [("ledger", "0004_account_narrow_hot_rows")]

    operations = [
        migrations.AddField(
            model_name="account",
            name="interest_method",
            field=models.CharField(db_default="declining_balance", default="declining_balance", max_length=32),
        ),
        migrations.AddField(
            model_name="installment",
            name="interest",
            field=models.DecimalField(decimal_places=8, max_digits=24, null=True),
        ),
        migrations.AddField(
            model_name="installment",
            name="period_start",
            field=models.DateField(null=True),
        ),
        migrations.RunSQL(FUNCTION, REVERSE),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
    ]
