"""Portfolio accrual benchmark (a script, not a test).

    uv run python bench/accrual_bench.py [--accounts 100000] [--sample 2000] [--workers 4] [--chunk 2000]

Seeds N open accounts (COPY) in a scratch database (lendsimple_ledger_bench), then for one business day:
- the raw-SQL floor: one INSERT ... SELECT of the day's accrual rows + one UPDATE of the accounts (rolled back);
- the portfolio run: ledger.portfolio.run_start + one process_chunk per chunk, chunks on --workers threads
  (as the worker's `--pool threads -c 4` runs them), each in its own transaction;
- the per-loan path (ledger.services.account_accrue, the accrue_daily_interest task body) on a sample of
  the same accounts in another tenant, extrapolated to N.
Checks the three produce identical amounts, prints loans/s and ratios, writes bench/results/accrual.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "services" / "accrual-worker"))
os.environ.setdefault("LENDSIMPLE_DB_NAME", "lendsimple_ledger_bench")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "accrual_worker.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")
RESULTS = Path(__file__).parent / "results" / "accrual.json"
DAY = date(2024, 3, 1)
TENANT, SAMPLE_TENANT = "bench", "bench-perloan"


def ensure_database() -> None:
    import psycopg

    name = os.environ["LENDSIMPLE_DB_NAME"]
    with psycopg.connect(host=os.environ.get("LENDSIMPLE_DB_HOST", "127.0.0.1"), user="postgres",
                         dbname="postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def templates():
    from common.finance import DAY_COUNTS, LoanTerms, generate_schedule

    out = []
    for conv in DAY_COUNTS:
        for rate in ("0.12", "0.0999", "0.245"):
            for mode in ("half_even", "half_up"):
                for disbursed in (date(2024, 2, d) for d in (1, 8, 15, 20)):
                    terms = LoanTerms(principal=Decimal("1000.00"), annual_rate=Decimal(rate), term=12,
                                      frequency="monthly", interest_method="declining_balance",
                                      amortization="equal_installments", day_count=conv, rounding_mode=mode,
                                      rounding_places=2, disbursement_date=disbursed)
                    out.append((terms, generate_schedule(terms)))
    return out


def seed(cursor, tenant: str, count: int, rng_seed: int = 11) -> None:
    """COPY ``count`` accounts (and their installments) brought up to DAY - 1, ready for one business day."""
    from common.finance import accrue

    rng = random.Random(rng_seed)
    tpls = templates()
    cursor.execute("SELECT coalesce(max(id), 0) FROM ledger_account")
    next_id = cursor.fetchone()[0] + 1
    accounts, installments = io.StringIO(), io.StringIO()
    yesterday = DAY - timedelta(days=1)
    for n in range(count):
        terms, schedule = tpls[n % len(tpls)]
        principal = Decimal(rng.randrange(100_000, 5_000_000)) / 100
        doc = schedule.to_dict()
        posted = accrue(balance=principal, annual_rate=terms.annual_rate, day_count=terms.day_count,
                        since=terms.disbursement_date, through=yesterday, already_posted=Decimal(0), places=2,
                        mode=terms.rounding_mode).cumulative
        account_id = next_id + n
        row = [account_id, tenant, uuid.UUID(int=rng.getrandbits(128)), "", "product-bench", "USD",
               json.dumps(terms.to_dict(), separators=(",", ":")), json.dumps(doc, separators=(",", ":")),
               terms.annual_rate, terms.day_count, terms.rounding_mode, 2, terms.disbursement_date, principal, 0, 0,
               "15.00", 10, 0, 90, 90, '["fees","interest","principal"]', principal, posted, 0, 0,
               terms.disbursement_date, posted, yesterday, 0, 0, 1, "open", "f", 0, "current", "now()", "now()",
               doc["installments"][0]["due_date"]]
        accounts.write("\t".join(str(v) for v in row) + "\n")
        running = Decimal(0)
        for inst in doc["installments"]:
            running += Decimal(inst["total"])
            installments.write(f"{account_id}\t{inst['number']}\t{inst['due_date']}\t{inst['total']}\t{running}\n")
    columns = ("id, tenant_id, loan_id, borrower_id, product_id, currency, terms, schedule, annual_rate, day_count, "
               "rounding_mode, places, disbursement_date, opening_principal, origination_fee, scheduled_fees, "
               "late_fee, grace_days, nsf_fee, default_after_days, non_accrual_after_days, allocation_order, principal, "
               "interest, fees, suspense, interest_since, interest_posted_since, last_accrual_date, "
               "paid_toward_schedule, scheduled_fees_paid, sequence, status, non_accrual, days_past_due, bucket, "
               "opened_at, updated_at, oldest_unpaid_due")
    with cursor.copy(f"COPY ledger_account ({columns}) FROM STDIN") as copy:
        copy.write(accounts.getvalue())
    with cursor.copy("COPY ledger_installment (account_id, number, due_date, total, cumulative_total) "
                     "FROM STDIN") as copy:
        copy.write(installments.getvalue())
    cursor.execute("SELECT setval(pg_get_serial_sequence('ledger_account', 'id'), (SELECT max(id) FROM ledger_account))")
    cursor.execute("ANALYZE ledger_account; ANALYZE ledger_installment; ANALYZE ledger_accrual")


FLOOR_SQL = """
INSERT INTO ledger_accrual (account_id, accrual_date, amount, cumulative, since, balance, reversed)
SELECT a.id, %(day)s, c.cum - a.interest_posted_since, c.cum, a.interest_since, a.principal, false
  FROM ledger_account a,
       LATERAL (SELECT ledger_cumulative_interest(a.principal, a.annual_rate, a.day_count, a.interest_since,
                                                  %(day)s, a.places, a.rounding_mode) AS cum) c
 WHERE a.tenant_id = %(tenant)s AND a.status = 'open' AND a.last_accrual_date = %(day)s::date - 1;
UPDATE ledger_account a SET interest = a.interest + r.amount, interest_posted_since = r.cumulative,
       last_accrual_date = %(day)s, sequence = a.sequence + 1
  FROM ledger_accrual r WHERE r.account_id = a.id AND r.accrual_date = %(day)s AND a.tenant_id = %(tenant)s;
"""

FINGERPRINT_SQL = """
SELECT count(*), coalesce(sum(r.amount), 0),
       md5(string_agg(a.principal::text || ':' || r.amount::text, ',' ORDER BY a.principal, r.amount))
  FROM ledger_accrual r JOIN ledger_account a ON a.id = r.account_id
 WHERE a.tenant_id = %(tenant)s AND r.accrual_date = %(day)s AND NOT r.reversed
"""


def run_floor(connection) -> tuple[float, tuple]:
    from django.db import transaction

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
            started = time.perf_counter()
            cursor.execute(FLOOR_SQL, {"day": DAY, "tenant": TENANT})
            elapsed = time.perf_counter() - started
            cursor.execute(FINGERPRINT_SQL, {"day": DAY, "tenant": TENANT})
            fingerprint = cursor.fetchone()
        transaction.set_rollback(True)
    return elapsed, fingerprint


def run_portfolio(workers: int) -> tuple[float, object]:
    from common.tenancy import tenant_context
    from django.db import connections, transaction
    from ledger import portfolio
    from ledger.models import AccrualRun

    run_id = uuid.uuid4()

    def chunk(args):
        index, lo, hi = args
        try:
            with tenant_context(TENANT), transaction.atomic():
                return portfolio.process_chunk(run_id=run_id, through=DAY, index=index, lo=lo, hi=hi)
        finally:
            connections.close_all()

    started = time.perf_counter()
    with tenant_context(TENANT), transaction.atomic():
        _, todo = portfolio.run_start(run_id=run_id, through=DAY)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        done = sum(pool.map(chunk, todo))
    elapsed = time.perf_counter() - started
    run = AccrualRun.all_tenants.get(run_id=run_id)
    assert run.status == "completed" and done == run.accounts_total, (run.status, done)
    return elapsed, run


def run_per_loan(loan_ids) -> float:
    from common.tenancy import tenant_context
    from django.db import transaction
    from ledger import services

    started = time.perf_counter()
    with tenant_context(SAMPLE_TENANT):
        for loan_id in loan_ids:
            with transaction.atomic():
                services.account_accrue(loan_id=loan_id, through=DAY)
    return time.perf_counter() - started


def main() -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=2_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--chunk", type=int, default=2_000)
    args = parser.parse_args()

    ensure_database()
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from ledger import portfolio
    from ledger.models import Account

    call_command("migrate", verbosity=0)
    portfolio.CHUNK_SIZE = args.chunk
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE ledger_accrual, ledger_fee, ledger_installment, ledger_non_accrual, "
                       "ledger_allocation, ledger_accrual_run, ledger_journal_line, ledger_journal_entry, "
                       "ledger_account, bus_outbox CASCADE")
        started = time.perf_counter()
        seed(cursor, TENANT, args.accounts)
        seed(cursor, SAMPLE_TENANT, args.sample)   # the first `sample` accounts again (same seed)
        seeding = time.perf_counter() - started
    print(f"seeded {args.accounts:,} + {args.sample:,} accounts in {seeding:.1f}s")

    floor_s, floor_fp = run_floor(connection)
    portfolio_s, run = run_portfolio(args.workers)
    with connection.cursor() as cursor:
        cursor.execute(FINGERPRINT_SQL, {"day": DAY, "tenant": TENANT})
        portfolio_fp = cursor.fetchone()
    sample_ids = list(Account.all_tenants.filter(tenant_id=SAMPLE_TENANT).values_list("loan_id", flat=True))
    per_loan_s = run_per_loan(sample_ids)
    with connection.cursor() as cursor:
        cursor.execute(FINGERPRINT_SQL, {"day": DAY, "tenant": SAMPLE_TENANT})
        sample_fp = cursor.fetchone()
        cursor.execute("SELECT a.principal, r.amount FROM ledger_accrual r JOIN ledger_account a ON a.id = r.account_id "
                       "WHERE a.tenant_id = %s AND r.accrual_date = %s ORDER BY a.id LIMIT %s",
                       [TENANT, DAY, args.sample])
        portfolio_sample = cursor.fetchall()
        cursor.execute("SELECT a.principal, r.amount FROM ledger_accrual r JOIN ledger_account a ON a.id = r.account_id "
                       "WHERE a.tenant_id = %s AND r.accrual_date = %s ORDER BY a.id", [SAMPLE_TENANT, DAY])
        per_loan_sample = cursor.fetchall()

    identical_floor = floor_fp == portfolio_fp
    identical_sample = portfolio_sample == per_loan_sample
    n = args.accounts
    result = {
        "accounts": n, "business_day": DAY.isoformat(), "workers": args.workers, "chunk_size": args.chunk,
        "portfolio": {"seconds": round(portfolio_s, 3), "loans_per_s": round(n / portfolio_s)},
        "raw_sql_floor": {"seconds": round(floor_s, 3), "loans_per_s": round(n / floor_s)},
        "per_loan": {"sample": args.sample, "seconds": round(per_loan_s, 3),
                     "loans_per_s": round(args.sample / per_loan_s),
                     "extrapolated_seconds": round(per_loan_s * n / args.sample, 1)},
        "ratios": {"portfolio_vs_per_loan": round((n / portfolio_s) / (args.sample / per_loan_s), 1),
                   "floor_vs_portfolio": round(portfolio_s / floor_s, 2)},
        "identical": {"floor_vs_portfolio": identical_floor, "per_loan_sample_vs_portfolio": identical_sample,
                      "rows": portfolio_fp[0], "sum": str(portfolio_fp[1]), "sample_rows": sample_fp[0]},
        "target_loans_per_s": 33_000,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
    }
    print(json.dumps(result, indent=2))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    if not (identical_floor and identical_sample):
        print("MISMATCH between the paths", file=sys.stderr)
        sys.exit(1)
    return result


if __name__ == "__main__":
    main()
