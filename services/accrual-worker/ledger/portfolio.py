"""Portfolio accrual: every open account of a tenant brought up to a date, one task per chunk of accounts,
set-based inside a chunk. The per-account rules are the engine's (``ledger.engine.advance``); here they
are expressed in SQL so a chunk of thousands of accounts costs a handful of statements:

1. lock the chunk's accounts (``FOR UPDATE``, id order — the same order every writer uses);
2. accounts whose non-accrual day falls inside the window go through the engine one by one (rare);
3. late fees: one INSERT ... SELECT ... ON CONFLICT DO NOTHING over the unpaid installments;
4. daily accrual: one INSERT ... SELECT over generate_series (catch-up of missed days included) using
   ``ledger_cumulative_interest`` (exactly ``common.finance.accrue``), ON CONFLICT DO NOTHING, and an
   UPDATE ... FROM of the accounts in the same statement;
5. days past due and bucket: one UPDATE ... FROM;
6. journal: one summarized entry per product and day for the accrual and for late fees;
7. outbox: delinquency changes, late-fee transactions, and one ``accrual_run.progressed`` event.

Idempotent per account and day (``last_accrual_date`` guard and the unique (account, day) index), so a
chunk may run twice or concurrently with another run of the same tenant.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import NamedTuple

from common.bus.catalogue import AccrualRunProgressed, DelinquencyChanged, TransactionPosted
from common.bus.outbox import NOTIFY_CHANNEL
from common.finance._util import fmt_money
from common.tenancy import require_tenant
from django.conf import settings
from django.db import connection
from django.utils import timezone

from ledger import accounts, engine, events, journal
from ledger.events import outbox_bulk
from ledger.models import Account, AccrualRun

CHUNK_SIZE = getattr(settings, "LEDGER_ACCRUAL_CHUNK_SIZE", 2000)

BUCKET_SQL = """CASE WHEN {d} = 0 THEN 'current' WHEN {d} < 30 THEN 'dpd_1_29' WHEN {d} < 60 THEN 'dpd_30_59'
    WHEN {d} < 90 THEN 'dpd_60_89' WHEN {d} < 120 THEN 'dpd_90_119' ELSE 'dpd_120_plus' END"""

SCOPE = "a.tenant_id = %(tenant)s AND a.id BETWEEN %(lo)s AND %(hi)s AND a.status = 'open' " \
        "AND a.last_accrual_date < %(through)s AND NOT (a.id = ANY(%(engine_ids)s))"

ENGINE_IDS_SQL = """
SELECT a.id FROM ledger_account a
WHERE a.tenant_id = %(tenant)s AND a.id BETWEEN %(lo)s AND %(hi)s AND a.status = 'open'
  AND a.last_accrual_date < %(through)s AND NOT a.non_accrual
  AND a.oldest_unpaid_due + a.non_accrual_after_days <= %(through)s
"""

LATE_FEES_SQL = f"""
WITH ins AS (
    INSERT INTO ledger_fee (account_id, kind, installment_number, payment_id, assessed_on, amount, reversed)
    SELECT a.id, 'late_fee', i.number, NULL,
           greatest(i.due_date + a.grace_days + 1, a.last_accrual_date + 1), a.late_fee, false
      FROM ledger_account a JOIN ledger_installment i ON i.account_id = a.id
     WHERE {SCOPE} AND a.late_fee > 0 AND a.oldest_unpaid_due + a.grace_days + 1 <= %(through)s
       AND i.cumulative_total > a.paid_toward_schedule
       AND i.due_date + a.grace_days + 1 <= %(through)s
    ORDER BY a.id, i.number
    ON CONFLICT (account_id, installment_number) WHERE kind = 'late_fee' AND NOT reversed DO NOTHING
    RETURNING account_id, installment_number, assessed_on, amount
), upd AS (
    UPDATE ledger_account a SET fees = a.fees + s.total
      FROM (SELECT account_id, sum(amount) AS total FROM ins GROUP BY account_id) s
     WHERE a.id = s.account_id
    RETURNING a.id
)
SELECT ins.account_id, ins.installment_number, ins.assessed_on, ins.amount, a.product_id
  FROM ins JOIN ledger_account a ON a.id = ins.account_id
"""

ACCRUAL_SQL = f"""
WITH src AS (
    SELECT a.id, a.principal, a.annual_rate, a.day_count, a.interest_since, a.interest_posted_since,
           a.last_accrual_date, a.places, a.rounding_mode, a.product_id
      FROM ledger_account a
     WHERE {SCOPE} AND NOT a.non_accrual
), days AS (
    SELECT src.id, src.product_id, src.interest_since, src.principal, src.interest_posted_since, d::date AS day,
           ledger_cumulative_interest(src.principal, src.annual_rate, src.day_count, src.interest_since, d::date,
                                      src.places, src.rounding_mode) AS cum
      FROM src, generate_series(src.last_accrual_date + 1, %(through)s::date, interval '1 day') AS d
), rows AS (
    SELECT id, product_id, day, cum, interest_since, principal,
           cum - coalesce(lag(cum) OVER (PARTITION BY id ORDER BY day), interest_posted_since) AS amount
      FROM days
), ins AS (
    INSERT INTO ledger_accrual (account_id, accrual_date, amount, cumulative, since, balance, reversed)
    SELECT id, day, amount, cum, interest_since, principal, false FROM rows ORDER BY id, day
    ON CONFLICT (account_id, accrual_date) WHERE NOT reversed DO NOTHING
    RETURNING account_id, accrual_date, amount, cumulative
), agg AS (
    SELECT account_id, sum(amount) AS total, (array_agg(cumulative ORDER BY accrual_date DESC))[1] AS last_cum
      FROM ins GROUP BY account_id
), upd AS (
    UPDATE ledger_account a
       SET interest = a.interest + agg.total, interest_posted_since = agg.last_cum,
           last_accrual_date = %(through)s, sequence = a.sequence + 1, updated_at = now()
      FROM agg WHERE a.id = agg.account_id
    RETURNING a.id
)
SELECT r.product_id, i.accrual_date, sum(i.amount)
  FROM ins i JOIN (SELECT DISTINCT id, product_id FROM src) r ON r.id = i.account_id
 GROUP BY r.product_id, i.accrual_date
"""

TOUCH_SQL = f"""
UPDATE ledger_account a SET last_accrual_date = %(through)s, sequence = a.sequence + 1, updated_at = now()
 WHERE {SCOPE}
"""

DPD_SQL = f"""
UPDATE ledger_account a SET days_past_due = s.dpd, bucket = {BUCKET_SQL.format(d="s.dpd")}
  FROM (SELECT a.id, a.bucket AS old_bucket,
               greatest(0, %(through)s::date - coalesce(a.oldest_unpaid_due, %(through)s::date)) AS dpd
          FROM ledger_account a
         WHERE a.tenant_id = %(tenant)s AND a.id = ANY(%(ids)s)) s
 WHERE a.id = s.id AND (a.days_past_due <> s.dpd OR a.bucket <> {BUCKET_SQL.format(d="s.dpd")})
RETURNING a.id, s.old_bucket, a.bucket, a.days_past_due
"""


def chunk_bounds(ids: list[int], size: int | None = None) -> list[tuple[int, int]]:
    size = size or CHUNK_SIZE
    return [(ids[i], ids[min(i + size, len(ids)) - 1]) for i in range(0, len(ids), size)]


def run_start(*, run_id, through: date) -> tuple[AccrualRun, list[tuple[int, int, int]]]:
    """Create (or resume) the run under a tenant-wide lock; return the chunks still to do."""
    tenant = require_tenant()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('ledger.accrual_run'), hashtext(%s))", [tenant])
    run, created = AccrualRun.objects.select_for_update().get_or_create(
        run_id=run_id, defaults={"through": through, "tenant_id": tenant})
    if created:
        ids = list(Account.objects.filter(status=engine.OPEN).order_by("id").values_list("id", flat=True))
        bounds = chunk_bounds(ids)
        run.accounts_total, run.chunks_total = len(ids), len(bounds)
        run.chunks_done = []
        run.status = "running" if bounds else "completed"
        run.bounds = [list(b) for b in bounds]
        if not bounds:
            run.finished_at = timezone.now()
        run.save()
        _emit_progress(run, [])
    todo = [(index, lo, hi) for index, (lo, hi) in enumerate(run.bounds) if index not in run.chunks_done]
    return run, todo


def _emit_progress(run: AccrualRun, summaries: list[dict]) -> None:
    outbox_bulk([AccrualRunProgressed(run_id=str(run.run_id), status=run.status, through=run.through.isoformat(),
                                      accounts_total=run.accounts_total, accounts_done=run.accounts_done,
                                      accounts=summaries)])


def _post_summaries(tenant: str, kind: str, rows, impact_of) -> None:
    for product_id, day, amount in rows:
        journal.post(kind=kind, effective_date=day, impact=impact_of(amount), product_id=product_id or "",
                     tenant_id=tenant, memo={"summary": "per tenant, product and day"})


def _advance_with_engine(ids: list[int], through: date) -> None:
    for account in Account.objects.filter(id__in=ids).order_by("id"):
        state = accounts.state_of(account)
        out = engine.Movements()
        engine.advance(state, accounts.rules_of(account), through, out)
        accounts.store(account, state)
        accounts.persist_movements(account, out)
        accounts.emit_delinquency_changes(account, out)


def process_chunk(*, run_id, through: date, index: int, lo: int, hi: int) -> int:
    """One chunk of a run (the caller holds the transaction). Returns the number of accounts done."""
    tenant = require_tenant()
    params = {"tenant": tenant, "lo": lo, "hi": hi, "through": through}
    with connection.cursor() as cursor:
        # The planner cannot know generate_series yields ~1 day per account and would JIT-compile these
        # statements for millions of rows: seconds of compilation for milliseconds of work.
        cursor.execute("SET LOCAL jit = off")
        cursor.execute("SELECT a.id FROM ledger_account a WHERE a.tenant_id = %(tenant)s "
                       "AND a.id BETWEEN %(lo)s AND %(hi)s AND a.status = 'open' ORDER BY a.id FOR UPDATE", params)
        ids = [row[0] for row in cursor.fetchall()]
        cursor.execute(ENGINE_IDS_SQL, params)
        engine_ids = [row[0] for row in cursor.fetchall()]
        params["engine_ids"] = engine_ids
        _advance_with_engine(engine_ids, through)

        cursor.execute(LATE_FEES_SQL, params)
        fees = cursor.fetchall()
        cursor.execute(ACCRUAL_SQL, params)
        accrued = cursor.fetchall()
        cursor.execute(TOUCH_SQL, params)
        set_based = [i for i in ids if i not in set(engine_ids)]
        cursor.execute(DPD_SQL, {**params, "ids": set_based})
        changes = cursor.fetchall()

    fee_days: dict[tuple, Decimal] = defaultdict(Decimal)
    for _, _, assessed_on, amount, product_id in fees:
        fee_days[(product_id, assessed_on)] += amount
    _post_summaries(tenant, "late_fee", [(p, d, a) for (p, d), a in fee_days.items()], journal.fee_assessed)
    _post_summaries(tenant, "accrual", accrued, journal.accrual)

    by_id = _chunk_rows(ids, through)
    payloads = []
    for account_id, number, assessed_on, amount, _ in fees:
        account = by_id[account_id]
        payloads.append(TransactionPosted(
            loan_id=str(account.loan_id), sequence=account.sequence, transaction_id=_uuid(), kind="late_fee",
            effective_date=assessed_on.isoformat(), amount=fmt_money(amount, account.places),
            breakdown={"fees": fmt_money(amount, account.places)}, reference=f"installment:{number}"))
    for account_id, old_bucket, bucket, dpd in changes:
        if old_bucket != bucket:
            account = by_id[account_id]
            payloads.append(DelinquencyChanged(
                loan_id=str(account.loan_id), sequence=account.sequence, as_of=through.isoformat(),
                days_past_due=dpd, previous_bucket=old_bucket, bucket=bucket, non_accrual=account.non_accrual))
    outbox_bulk(payloads)

    # The run row is the one row every chunk of the run writes, and its lock is held until commit: take it
    # last, with everything costly done before — the progress event built and serialized, the deferred
    # FK and journal-balance checks run now (SET CONSTRAINTS ... IMMEDIATE) rather than at commit — so the
    # run row is locked for one UPDATE + INSERT and the commit, and chunks do not queue behind each other.
    progress = _progress_row(run_id=run_id, through=through,
                             summaries=[events.account_summary(by_id[i], by_id[i].accrued) for i in ids])
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(MARK_DONE_SQL, {"run_id": run_id, "tenant": tenant, "index": index, "count": len(ids),
                                       **progress})
        if cursor.fetchone() is not None:
            cursor.execute(f"NOTIFY {NOTIFY_CHANNEL}")
    return len(ids)


class _Row(NamedTuple):
    """The columns of an account the chunk's events read (duck-types ``Account`` for ``ledger.events``)."""

    id: int
    loan_id: object
    sequence: int
    places: int
    principal: Decimal
    interest: Decimal
    fees: Decimal
    last_accrual_date: date
    days_past_due: int
    bucket: str
    interest_since: date
    interest_posted_since: Decimal
    non_accrual: bool
    status: str
    accrued: Decimal


CHUNK_ROWS_SQL = """
SELECT a.id, a.loan_id, a.sequence, a.places, a.principal, a.interest, a.fees, a.last_accrual_date,
       a.days_past_due, a.bucket, a.interest_since, a.interest_posted_since, a.non_accrual, a.status,
       coalesce(r.total, 0)
  FROM ledger_account a
  LEFT JOIN (SELECT account_id, sum(amount) AS total FROM ledger_accrual
              WHERE account_id = ANY(%(ids)s) AND accrual_date = %(through)s AND NOT reversed
              GROUP BY account_id) r ON r.account_id = a.id
 WHERE a.id = ANY(%(ids)s)
"""

MARK_DONE_SQL = """
WITH run AS (
    UPDATE ledger_accrual_run
       SET chunks_done = chunks_done || to_jsonb(%(index)s::int), accounts_done = accounts_done + %(count)s,
           status = CASE WHEN jsonb_array_length(chunks_done) + 1 >= chunks_total THEN 'completed' ELSE status END,
           finished_at = CASE WHEN jsonb_array_length(chunks_done) + 1 >= chunks_total THEN now() ELSE finished_at END
     WHERE run_id = %(run_id)s AND tenant_id = %(tenant)s AND NOT chunks_done @> to_jsonb(%(index)s::int)
    RETURNING status, accounts_total, accounts_done
)
INSERT INTO bus_outbox (message_id, kind, name, tenant_id, correlation_id, body, created_at, sent_at, attempts,
                        last_error)
SELECT %(message_id)s, 'event', %(name)s, %(tenant)s, %(correlation)s,
       jsonb_set(jsonb_set(jsonb_set(%(body)s::jsonb, '{payload,status}', to_jsonb(run.status)),
                           '{payload,accounts_total}', to_jsonb(run.accounts_total)),
                 '{payload,accounts_done}', to_jsonb(run.accounts_done)),
       now(), NULL, 0, ''
  FROM run
RETURNING id
"""


def _progress_row(*, run_id, through: date, summaries: list[dict]) -> dict:
    """The chunk's ``accrual_run.progressed`` outbox row, serialized before the run row is locked; status and
    counts are filled in by MARK_DONE_SQL from the run row it updates (same envelope as ``outbox_add``)."""
    import json

    from common.bus.envelope import Envelope
    from common.logging import get_correlation_id

    payload = AccrualRunProgressed(run_id=str(run_id), status="running", through=through.isoformat(),
                                   accounts_total=0, accounts_done=0, accounts=summaries)
    correlation = get_correlation_id() or _uuid().replace("-", "")
    envelope = Envelope(event_type=payload.EVENT_TYPE, tenant_id=require_tenant(), correlation_id=correlation,
                        payload=payload.model_dump(mode="json"))
    return {"message_id": envelope.event_id, "name": envelope.event_type, "correlation": correlation,
            "body": json.dumps(envelope.model_dump(mode="json"), separators=(",", ":"))}


def _chunk_rows(ids: list[int], through: date) -> dict[int, _Row]:
    """The chunk's accounts after the run, with today's accrual: one query, no model instances."""
    with connection.cursor() as cursor:
        cursor.execute(CHUNK_ROWS_SQL, {"ids": ids, "through": through})
        return {row[0]: _Row(*row) for row in cursor.fetchall()}


def _uuid() -> str:
    import uuid

    return str(uuid.uuid4())
