"""Database-enforced ledger rules, and the set-based accrual functions.

- Every journal entry balances: a DEFERRABLE INITIALLY DEFERRED constraint trigger on journal lines
  checks sum(debit) = sum(credit) per entry at commit, so a transaction that leaves one unbalanced fails.
- Posted entries and lines are immutable: UPDATE and DELETE are refused (corrections are new entries).
- ``ledger_yf_num``/``ledger_yf_den`` and ``ledger_round_ratio`` reproduce ``common.finance.year_fraction``
  and ``round_money`` exactly (integer/numeric arithmetic, half-even or half-up), so a portfolio run in
  SQL posts the same cents as ``common.finance.accrue`` (tests compare them).
"""

from django.db import migrations

SQL = r"""
CREATE FUNCTION ledger_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE unbalanced bigint;
BEGIN
    SELECT l.entry_id INTO unbalanced FROM ledger_journal_line l
     WHERE l.entry_id = NEW.entry_id GROUP BY l.entry_id HAVING sum(l.debit) <> sum(l.credit);
    IF unbalanced IS NOT NULL THEN
        RAISE EXCEPTION 'journal entry % does not balance', unbalanced USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER ledger_journal_line_balanced
    AFTER INSERT ON ledger_journal_line DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_entry_balanced();

CREATE FUNCTION ledger_journal_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'posted journal rows are immutable (% on %); post a reversing entry', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END $$;

CREATE TRIGGER ledger_journal_line_immutable BEFORE UPDATE OR DELETE ON ledger_journal_line
    FOR EACH ROW EXECUTE FUNCTION ledger_journal_immutable();
CREATE TRIGGER ledger_journal_entry_immutable BEFORE UPDATE OR DELETE ON ledger_journal_entry
    FOR EACH ROW EXECUTE FUNCTION ledger_journal_immutable();

-- year fraction of [s, e) = ledger_yf_num(conv, s, e) / ledger_yf_den(conv)
CREATE FUNCTION ledger_yf_den(conv text) RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE conv WHEN 'actual/365' THEN 365 WHEN 'actual/actual' THEN 133590 ELSE 360 END
$$;

CREATE FUNCTION ledger_is_leap(y integer) RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (y % 4 = 0 AND y % 100 <> 0) OR y % 400 = 0
$$;

CREATE FUNCTION ledger_yf_num(conv text, s date, e date) RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE conv
        WHEN '30/360' THEN
            360 * (extract(year FROM e)::int - extract(year FROM s)::int)
            + 30 * (extract(month FROM e)::int - extract(month FROM s)::int)
            + (CASE WHEN extract(day FROM e)::int = 31 AND extract(day FROM s)::int >= 30 THEN 30
                    ELSE extract(day FROM e)::int END)
            - least(extract(day FROM s)::int, 30)
        WHEN '30e/360' THEN
            360 * (extract(year FROM e)::int - extract(year FROM s)::int)
            + 30 * (extract(month FROM e)::int - extract(month FROM s)::int)
            + least(extract(day FROM e)::int, 30) - least(extract(day FROM s)::int, 30)
        WHEN 'actual/actual' THEN
            CASE WHEN extract(year FROM s) = extract(year FROM e) THEN
                (e - s)::bigint * (CASE WHEN ledger_is_leap(extract(year FROM s)::int) THEN 365 ELSE 366 END)
            ELSE
                (make_date(extract(year FROM s)::int + 1, 1, 1) - s)::bigint
                    * (CASE WHEN ledger_is_leap(extract(year FROM s)::int) THEN 365 ELSE 366 END)
                + (extract(year FROM e)::int - extract(year FROM s)::int - 1)::bigint * 133590
                + (e - make_date(extract(year FROM e)::int, 1, 1))::bigint
                    * (CASE WHEN ledger_is_leap(extract(year FROM e)::int) THEN 365 ELSE 366 END)
            END
        ELSE (e - s)::bigint
    END
$$;

-- n / d (n >= 0, d > 0) rounded to an integer: exact (div() truncates exactly), ties by mode.
CREATE FUNCTION ledger_round_ratio(n numeric, d numeric, mode text) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT div(n, d) + CASE
        WHEN 2 * (n - div(n, d) * d) > d THEN 1
        WHEN 2 * (n - div(n, d) * d) < d THEN 0
        WHEN mode = 'half_up' THEN 1
        ELSE mod(div(n, d), 2)
    END
$$;

-- round(balance * rate * yf(since, through)) to `places`: common.finance.accrue's cumulative.
CREATE FUNCTION ledger_cumulative_interest(balance numeric, rate numeric, conv text, since date, through date,
                                           places integer, mode text) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ledger_round_ratio(balance * rate * ledger_yf_num(conv, since, through) * (10::numeric ^ places),
                              ledger_yf_den(conv), mode) / (10::numeric ^ places)
$$;
"""

REVERSE = r"""
DROP FUNCTION IF EXISTS ledger_cumulative_interest(numeric, numeric, text, date, date, integer, text);
DROP FUNCTION IF EXISTS ledger_round_ratio(numeric, numeric, text);
DROP FUNCTION IF EXISTS ledger_yf_num(text, date, date);
DROP FUNCTION IF EXISTS ledger_is_leap(integer);
DROP FUNCTION IF EXISTS ledger_yf_den(text);
DROP TRIGGER IF EXISTS ledger_journal_entry_immutable ON ledger_journal_entry;
DROP TRIGGER IF EXISTS ledger_journal_line_immutable ON ledger_journal_line;
DROP FUNCTION IF EXISTS ledger_journal_immutable();
DROP TRIGGER IF EXISTS ledger_journal_line_balanced ON ledger_journal_line;
DROP FUNCTION IF EXISTS ledger_entry_balanced();
"""


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]

    operations = [migrations.RunSQL(SQL, REVERSE)]
