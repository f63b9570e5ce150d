"""Portfolio accrual benchmark (a script, not a test).

    uv run python bench/accrual_bench.py [--accounts 100000] [--runs 3] [--sample 200] [--workers 4] [--chunk N]
    uv run python bench/accrual_bench.py --accounts 1000000      # the issue's large run

Seeds N open accounts (generated in SQL from 144 product templates: 5 day counts x 3 rates x 2 rounding
modes x 4 disbursement dates) in a scratch database (lendsimple_ledger_bench), then for --runs consecutive
business days measures bringing all of them up one day:
(c) the raw-SQL floor: one INSERT ... SELECT of the day's accrual rows + one UPDATE of the accounts, FK
    checks immediate, rolled back;
(a) the portfolio run as shipped: ledger.portfolio.run_start + one process_chunk per chunk, on --workers
    threads (as the worker's `--pool threads -c 4` runs them), each chunk its own transaction;
(b) the per-loan path (ledger.services.account_accrue, the accrue_daily_interest task body) on --sample
    of the same accounts in another tenant, extrapolated to N.
Checks (a) = (c) (count, sum and md5 of every amount) and (a) = (b) on the sample, reports medians,
loans/s and the ratios; writes bench/results/accrual.json and accrual.png.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "services" / "accrual-worker"))
os.environ.setdefault("LENDSIMPLE_DB_NAME", "lendsimple_ledger_bench")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "accrual_worker.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")
import benchlib  # noqa: E402

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


ACCOUNT_COLUMNS = (
    "id, tenant_id, loan_id, borrower_id, product_id, currency, terms, schedule, annual_rate, day_count, "
    "rounding_mode, places, disbursement_date, opening_principal, origination_fee, scheduled_fees, late_fee, "
    "grace_days, nsf_fee, default_after_days, non_accrual_after_days, allocation_order, principal, interest, fees, "
    "suspense, interest_since, interest_posted_since, last_accrual_date, paid_toward_schedule, scheduled_fees_paid, "
    "sequence, status, non_accrual, days_past_due, bucket, opened_at, updated_at, oldest_unpaid_due")


def seed(cursor, tenant: str, count: int) -> None:
    """``count`` accounts brought up to DAY - 1, ready for one business day, generated in SQL.

    The 144 product templates (day counts x rates x rounding modes x disbursement dates) are COPYed once;
    account g takes template g mod 144 and a principal from a fixed hash of g (so the per-loan tenant's
    accounts 1..sample are the main tenant's first accounts again); interest posted so far is
    ``ledger_cumulative_interest`` (exactly ``common.finance.accrue``, as the worker's tests check).
    """
    tpls = templates()
    cursor.execute("CREATE TEMP TABLE IF NOT EXISTS bench_tpl (k int, terms jsonb, schedule jsonb, rate numeric, "
                   "conv text, mode text, disbursed date, first_due date) ON COMMIT PRESERVE ROWS")
    cursor.execute("CREATE TEMP TABLE IF NOT EXISTS bench_tpl_inst (k int, number int, due_date date, total numeric, "
                   "cumulative numeric) ON COMMIT PRESERVE ROWS")
    cursor.execute("TRUNCATE bench_tpl, bench_tpl_inst")
    with cursor.copy("COPY bench_tpl FROM STDIN") as copy:
        for k, (terms, schedule) in enumerate(tpls):
            doc = schedule.to_dict()
            copy.write_row([k, json.dumps(terms.to_dict(), separators=(",", ":")), json.dumps(doc, separators=(",", ":")),
                            terms.annual_rate, terms.day_count, terms.rounding_mode, terms.disbursement_date,
                            doc["installments"][0]["due_date"]])
    with cursor.copy("COPY bench_tpl_inst FROM STDIN") as copy:
        for k, (_, schedule) in enumerate(tpls):
            running = Decimal(0)
            for inst in schedule.to_dict()["installments"]:
                running += Decimal(inst["total"])
                copy.write_row([k, inst["number"], inst["due_date"], inst["total"], running])
    cursor.execute("SELECT coalesce(max(id), 0) FROM ledger_account")
    base = cursor.fetchone()[0]
    cursor.execute(f"""
        INSERT INTO ledger_account ({ACCOUNT_COLUMNS})
        SELECT %(base)s + g, %(tenant)s, md5(%(tenant)s || ':' || g)::uuid, '', 'product-' || t.conv, 'USD',
               t.terms, t.schedule, t.rate, t.conv, t.mode, 2, t.disbursed, p.principal, 0, 0, 15.00, 10, 0, 90, 90,
               '["fees","interest","principal"]', p.principal, c.cum, 0, 0, t.disbursed, c.cum,
               %(yesterday)s, 0, 0, 1, 'open', false, 0, 'current', now(), now(), t.first_due
          FROM generate_series(1, %(count)s) g
          JOIN bench_tpl t ON t.k = g %% %(ntpl)s,
               LATERAL (SELECT (1000 + ((g::bigint * 2654435761) %% 4900000)::numeric / 100)::numeric(24,8)
                        AS principal) p,
               LATERAL (SELECT ledger_cumulative_interest(p.principal, t.rate, t.conv, t.disbursed, %(yesterday)s,
                                                          2, t.mode) AS cum) c
         ORDER BY g""", {"base": base, "tenant": tenant, "count": count, "ntpl": len(tpls),
                          "yesterday": DAY - timedelta(days=1)})
    cursor.execute("""
        INSERT INTO ledger_installment (account_id, number, due_date, total, cumulative_total)
        SELECT a.id, i.number, i.due_date, i.total, i.cumulative
          FROM ledger_account a JOIN bench_tpl_inst i ON i.k = (a.id - %(base)s) %% %(ntpl)s
         WHERE a.tenant_id = %(tenant)s ORDER BY a.id, i.number""",
                   {"base": base, "tenant": tenant, "ntpl": len(tpls)})
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


def settle(connection) -> None:
    """Before each measurement: vacuum what the previous one left (the floor is rolled back, so without this
    the portfolio run would step over 100,000 dead account versions and the next floor over the run's) and
    checkpoint, so neither pays the other's garbage or a checkpoint's writes."""
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) ledger_account, ledger_accrual, bus_outbox")
        cursor.execute("CHECKPOINT")


def run_floor(connection, day: date) -> tuple[float, tuple]:
    """The floor, rolled back; constraints made immediate so its FK checks are paid as the run pays them."""
    from django.db import transaction

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            started = time.perf_counter()
            cursor.execute(FLOOR_SQL, {"day": day, "tenant": TENANT})
            elapsed = time.perf_counter() - started
            cursor.execute(FINGERPRINT_SQL, {"day": day, "tenant": TENANT})
            fingerprint = cursor.fetchone()
        transaction.set_rollback(True)
    return elapsed, fingerprint


def run_portfolio(workers: int, day: date) -> float:
    from common.tenancy import tenant_context
    from django.db import transaction
    from ledger import portfolio
    from ledger.models import AccrualRun

    run_id = uuid.uuid4()

    def chunk(args):
        # As a worker thread runs the chunk tasks: its connection stays open from one chunk to the next
        # (CONN_MAX_AGE); it is closed when the pool's thread exits.
        index, lo, hi = args
        with tenant_context(TENANT), transaction.atomic():
            return portfolio.process_chunk(run_id=run_id, through=day, index=index, lo=lo, hi=hi)

    started = time.perf_counter()
    with tenant_context(TENANT), transaction.atomic():
        _, todo = portfolio.run_start(run_id=run_id, through=day)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        done = sum(pool.map(chunk, todo))
    elapsed = time.perf_counter() - started
    run = AccrualRun.all_tenants.get(run_id=run_id)
    assert run.status == "completed" and done == run.accounts_total, (run.status, done)
    return elapsed


def run_per_loan(loan_ids, day: date) -> float:
    from common.tenancy import tenant_context
    from django.db import transaction
    from ledger import services

    started = time.perf_counter()
    with tenant_context(SAMPLE_TENANT):
        for loan_id in loan_ids:
            with transaction.atomic():
                services.account_accrue(loan_id=loan_id, through=day)
    return time.perf_counter() - started


AMOUNTS_SQL = """SELECT a.principal, r.amount FROM ledger_accrual r JOIN ledger_account a ON a.id = r.account_id
                  WHERE a.tenant_id = %s AND r.accrual_date = %s ORDER BY a.id LIMIT %s"""


def result_name(accounts: int) -> str:
    """bench/results/accrual.json for the default size, accrual_<N>.json for another (the 1,000,000 run)."""
    return "accrual" if accounts == 100_000 else f"accrual_{accounts}"


def plot(result: dict) -> None:
    plt = benchlib.pyplot()
    fig, ax = plt.subplots(figsize=(8, 4))
    names = ["per-loan task path\n(extrapolated)", "portfolio run", "raw-SQL floor"]
    values = [result["per_loan"]["loans_per_s"], result["portfolio"]["loans_per_s"],
              result["raw_sql_floor"]["loans_per_s"]]
    bars = ax.barh(names, values, color=["#c44", "#48c", "#888"])
    ax.bar_label(bars, labels=[f"{v:,.0f}/s" for v in values], padding=3)
    ax.axvline(33_000, color="red", ls=":", lw=0.8, label="target 33,000/s")
    ax.set_xscale("log")
    ax.set_xlabel("loans brought up one business day per second (median, log scale)")
    ax.legend(loc="lower right")
    ax.set_title(f"Portfolio accrual, {result['accounts']:,} loans, 2 shared cores")
    fig.tight_layout()
    fig.savefig(benchlib.plot_path(result_name(result["accounts"])), dpi=110)


def main() -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=100_000, help="1000000 for the issue's large run")
    parser.add_argument("--sample", type=int, default=200, help="accounts on the per-loan path, per run")
    parser.add_argument("--runs", type=int, default=3, help="business days run (one measurement each)")
    parser.add_argument("--workers", type=int, default=4, help="threads, as the worker's --pool threads -c 4")
    parser.add_argument("--chunk", type=int, default=None, help="accounts per chunk (default: the worker's)")
    args = parser.parse_args()

    machine = benchlib.machine()
    ensure_database()
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from ledger import portfolio
    from ledger.models import Account

    call_command("migrate", verbosity=0)
    if args.chunk:
        portfolio.CHUNK_SIZE = args.chunk
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE ledger_accrual, ledger_fee, ledger_installment, ledger_non_accrual, "
                       "ledger_allocation, ledger_accrual_run, ledger_journal_line, ledger_journal_entry, "
                       "ledger_account, bus_outbox CASCADE")
        started = time.perf_counter()
        cursor.execute("SET jit = off")
        # scratch database, generated rows: skip the per-row FK triggers of the bulk insert (COPY-like)
        cursor.execute("SET session_replication_role = replica")
        seed(cursor, TENANT, args.accounts)
        seed(cursor, SAMPLE_TENANT, args.sample)   # the first `sample` accounts again (same principals)
        cursor.execute("SET session_replication_role = DEFAULT")
        seeding = time.perf_counter() - started
    print(f"seeded {args.accounts:,} + {args.sample:,} accounts in {seeding:.1f}s", flush=True)
    sample_ids = list(Account.all_tenants.filter(tenant_id=SAMPLE_TENANT).values_list("loan_id", flat=True))

    n, runs = args.accounts, []
    for k in range(args.runs):
        day = DAY + timedelta(days=k)
        settle(connection)
        floor_s, floor_fp = run_floor(connection, day)
        settle(connection)
        portfolio_s = run_portfolio(args.workers, day)
        per_loan_s = run_per_loan(sample_ids, day)
        with connection.cursor() as cursor:
            cursor.execute(FINGERPRINT_SQL, {"day": day, "tenant": TENANT})
            portfolio_fp = cursor.fetchone()
            cursor.execute(AMOUNTS_SQL, [TENANT, day, args.sample])
            portfolio_sample = cursor.fetchall()
            cursor.execute(AMOUNTS_SQL, [SAMPLE_TENANT, day, args.sample])
            per_loan_sample = cursor.fetchall()
        run = {"day": day.isoformat(), "portfolio_s": round(portfolio_s, 3), "floor_s": round(floor_s, 3),
               "per_loan_s": round(per_loan_s, 3), "rows": portfolio_fp[0], "sum": str(portfolio_fp[1]),
               "identical_floor": floor_fp == portfolio_fp,
               "identical_per_loan_sample": portfolio_sample == per_loan_sample and len(per_loan_sample) == args.sample}
        runs.append(run)
        print(f"{day}: portfolio {n / portfolio_s:,.0f} loans/s ({portfolio_s:.2f}s), floor {n / floor_s:,.0f}/s "
              f"({floor_s:.2f}s), per-loan {args.sample / per_loan_s:,.1f}/s; identical: floor "
              f"{run['identical_floor']}, per-loan {run['identical_per_loan_sample']}", flush=True)

    portfolio_s = benchlib.median([r["portfolio_s"] for r in runs])
    floor_s = benchlib.median([r["floor_s"] for r in runs])
    per_loan_s = benchlib.median([r["per_loan_s"] for r in runs])
    identical = all(r["identical_floor"] and r["identical_per_loan_sample"] for r in runs)
    result = {
        "machine": machine, "accounts": n, "runs": runs, "workers": args.workers,
        "chunk_size": portfolio.CHUNK_SIZE, "seeding_s": round(seeding, 1),
        "portfolio": {"seconds": round(portfolio_s, 3), "loans_per_s": round(n / portfolio_s)},
        "raw_sql_floor": {"seconds": round(floor_s, 3), "loans_per_s": round(n / floor_s)},
        "per_loan": {"sample": args.sample, "seconds": round(per_loan_s, 3),
                     "loans_per_s": round(args.sample / per_loan_s, 1),
                     "extrapolated_seconds": round(per_loan_s * n / args.sample, 1)},
        "ratios": {"a_over_b_portfolio_vs_per_loan": round((n / portfolio_s) / (args.sample / per_loan_s), 1),
                   "a_over_c_portfolio_time_vs_floor_time": round(portfolio_s / floor_s, 2)},
        "identical_amounts": identical,
        "targets": {"loans_per_s": 33_000, "vs_per_loan": 50, "vs_floor_max": 1.5},
    }
    print(json.dumps({k: v for k, v in result.items() if k not in ("runs", "machine")}, indent=2))
    benchlib.write_result(result_name(n), result)
    plot(result)
    if not identical:
        print("MISMATCH between the paths", file=sys.stderr)
        sys.exit(1)
    return result


if __name__ == "__main__":
    main()
