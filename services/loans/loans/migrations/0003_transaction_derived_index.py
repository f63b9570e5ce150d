# The legacy derived transaction rows, indexed alone (loans.projection.transaction_posted_apply looks them up).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('loans', '0002_idempotencyrecord'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='loantransaction',
            index=models.Index(condition=models.Q(('derived', True)), fields=['loan', 'kind', 'reference'], name='loan_transaction_derived'),
        ),
    ]
