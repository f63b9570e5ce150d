"""Outbox bodies compressed with lz4 instead of pglz.

A portfolio chunk's ``accrual_run.progressed`` event carries thousands of account summaries (~0.75 MB of
JSON); pglz spent ~12 ms compressing each, lz4 ~5 ms (measured on the accrual benchmark's rows). Only new
rows are affected. PostgreSQL builds without lz4 keep pglz (the statement is skipped, not failed)."""

from django.db import migrations

LZ4 = """
DO $$
BEGIN
    ALTER TABLE bus_outbox ALTER COLUMN body SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value OR undefined_object THEN
    RAISE NOTICE 'lz4 not available: bus_outbox.body stays pglz';
END $$;
"""


class Migration(migrations.Migration):
    dependencies = [("bus", "0001_initial")]

    operations = [migrations.RunSQL(LZ4, reverse_sql="ALTER TABLE bus_outbox ALTER COLUMN body SET COMPRESSION pglz")]
