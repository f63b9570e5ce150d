"""The idempotency table now derives from ``common.idempotency.IdempotencyRecordBase``: same columns,
same rules, constraint names prefixed per app. The constraints are renamed in place (no index rebuild,
no moment without the unique index)."""

from django.db import migrations, models

TABLE = "payments_idempotencyrecord"
RENAMES = [
    ("idempotency_key_once_per_tenant", "payments_idempotencyrecord_key_once"),
    ("idempotency_completed_has_response", "payments_idempotencyrecord_completed_has_response"),
]


class Migration(migrations.Migration):

    dependencies = [
        ('payments', '0001_initial'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='idempotencyrecord',
            options={'base_manager_name': 'all_tenants'},
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(f'ALTER TABLE "{TABLE}" RENAME CONSTRAINT "{old}" TO "{new}"',
                                  reverse_sql=f'ALTER TABLE "{TABLE}" RENAME CONSTRAINT "{new}" TO "{old}"')
                for old, new in RENAMES
            ],
            state_operations=[
                migrations.RemoveConstraint(
                    model_name='idempotencyrecord',
                    name='idempotency_key_once_per_tenant',
                ),
                migrations.RemoveConstraint(
                    model_name='idempotencyrecord',
                    name='idempotency_completed_has_response',
                ),
                migrations.AddConstraint(
                    model_name='idempotencyrecord',
                    constraint=models.UniqueConstraint(fields=('tenant_id', 'key'),
                                                       name='payments_idempotencyrecord_key_once'),
                ),
                migrations.AddConstraint(
                    model_name='idempotencyrecord',
                    constraint=models.CheckConstraint(
                        condition=models.Q(('state', 'in_flight'), models.Q(('response_body__isnull', False),
                                                                            ('response_status__isnull', False)),
                                           _connector='OR'),
                        name='payments_idempotencyrecord_completed_has_response'),
                ),
            ],
        ),
    ]
