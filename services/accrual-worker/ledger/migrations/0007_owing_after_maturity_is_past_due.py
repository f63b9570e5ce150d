"""An open account that still owes principal or interest after its schedule's total was paid is past due from
its last due date (``engine.first_unpaid``). Before this rule such accounts stored no oldest unpaid due date and
stayed current for ever; this gives them their maturity date, so the next daily run ages them, charges the last
installment's late fee and, past the threshold, puts them in non-accrual (the run catches up the days since)."""

from django.db import migrations

OWING_AFTER_MATURITY = """
UPDATE ledger_account a
   SET oldest_unpaid_due = m.maturity
  FROM (SELECT account_id, max(due_date) AS maturity FROM ledger_installment GROUP BY account_id) m
 WHERE m.account_id = a.id AND a.status = 'open' AND a.oldest_unpaid_due IS NULL
   AND a.principal + a.interest + a.interest_suspended > 0
"""


class Migration(migrations.Migration):
    dependencies = [("ledger", "0006_non_accrual_interest_in_suspense")]

    operations = [migrations.RunSQL(OWING_AFTER_MATURITY, reverse_sql=migrations.RunSQL.noop)]
