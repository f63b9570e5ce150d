"""Keep the account row narrow and its daily updates HOT.

The portfolio run rewrites every open account once per business day (interest, last_accrual_date,
sequence, dpd). Each UPDATE writes a whole new tuple: with ``terms`` and ``schedule`` (about 1 KB of
compressed JSON) stored inline that is ~1.2 KB of heap and WAL per account per day, and with no free
space on the page every index is updated too. Measured on 100,000 accounts: the UPDATE alone took 9 s.

- ``terms``/``schedule`` are written once and read rarely (engine path): stored out of line (TOAST,
  uncompressed EXTERNAL so a read is one fetch, no decompression), so an UPDATE that does not change
  them only copies an 18-byte pointer; ``toast_tuple_target`` lets rows this small be toasted at all.
- ``fillfactor = 60`` leaves room on each page so the new version lands on the same page: a HOT update
  (none of the updated columns is indexed), no index writes, old versions pruned in-page.

Storage parameters only: no data or behaviour change. Existing rows take the new layout on their next
UPDATE (or at once with ``VACUUM FULL ledger_account``).
"""

from django.db import migrations

SQL = """
ALTER TABLE ledger_account ALTER COLUMN terms SET STORAGE EXTERNAL;
ALTER TABLE ledger_account ALTER COLUMN schedule SET STORAGE EXTERNAL;
ALTER TABLE ledger_account SET (toast_tuple_target = 128, fillfactor = 60);
"""

REVERSE = """
ALTER TABLE ledger_account ALTER COLUMN terms SET STORAGE EXTENDED;
ALTER TABLE ledger_account ALTER COLUMN schedule SET STORAGE EXTENDED;
ALTER TABLE ledger_account RESET (toast_tuple_target, fillfactor);
"""


class Migration(migrations.Migration):
    dependencies = [("ledger", "0003_account_oldest_unpaid_due")]

    operations = [migrations.RunSQL(SQL, REVERSE)]
