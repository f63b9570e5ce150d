from django.db import migrations, models

# The accounts charged off before this migration: the charge-off's as-of date, or the last day accrued before
# it when the account had been brought further (nothing accrues after a charge-off).
CHARGED_OFF_ON_BACKFILL = """
UPDATE ledger_account a
   SET charged_off_on = GREATEST(
         (SELECT min(e.effective_date) FROM ledger_journal_entry e WHERE e.account_id = a.id AND e.kind = 'charge_off'),
         (SELECT max(r.accrual_date) FROM ledger_accrual r WHERE r.account_id = a.id AND NOT r.reversed))
 WHERE a.status IN ('charged_off', 'written_off')
"""


class Migration(migrations.Migration):

    dependencies = [
        ('ledger', '0009_account_arrears_tolerance'),
    ]

    operations = [
        migrations.AddField(
            model_name='account',
            name='charged_off_on',
            field=models.DateField(blank=True, null=True),
        ),
        migrations.RunSQL(CHARGED_OFF_ON_BACKFILL, migrations.RunSQL.noop),
    ]
