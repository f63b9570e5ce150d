"""Portfolio accrual: every open account of a tenant brought up to a date, one task per chunk of accounts,
set-based inside a chunk. The per-account rules are the engine's (``ledger.engine.advance``); here they
are expressed in SQL so a chunk of thousands of accounts costs a handful of statements:

1. lock the chunk's accounts (``FOR UPDATE``, id order — the same order every writer uses);
2. accounts whose non-accrual day falls inside the window go through the engine one by one (rare);
3. late fees: one INSERT ... SELECT ... ON CONFLICT DO NOTHING over the unpaid installments;
4. the day itself, one statement: the accrual rows (catch-up of missed days included) from
   ``ledger_cumulative_interest`` (exactly ``common.finance.accrue``; flat-interest loans from
   ``ledger_flat_cumulative_interest``, exactly ``common.finance.FlatInterest``), ON CONFLICT DO NOTHING, and one
   UPDATE of each account (balances, accrual clock, days past due, bucket) returning its progress summary
   rendered as JSON; an account already in non-accrual accrues the same way into ``interest_suspended``
   (rows flagged ``suspended``: owed, not income);
5. journal: one summarized entry per product and day for the accrual (income), for the suspended accrual
   (memo pair) and for late fees;
6. outbox: delinquency changes, late-fee transactions, and one ``accrual_run.progressed`` event.

Idempotent per account and day (``last_accrual_date`` guard and the unique (account, day) index), so a
chunk may run twice or concurrently with another run of the same tenant.
"""

from __future__ import annotations

import functools
import json
import uuid
from datetime import date
from decimal import Decimal
from typing import NamedTuple

from common.bus.catalogue import AccrualRunProgressed, DelinquencyChanged, TransactionPosted
from common.bus.outbox import NOTIFY_CHANNEL
from common.logging import get_correlation_id
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

# The chunk's accounts locked in id order (the order every writer uses), each flagged when its non-accrual day
# falls inside the window (those go through the engine).
LOCK_SQL = """
SELECT a.id, coalesce(a.last_accrual_date < %(through)s AND NOT a.non_accrual
                      AND a.oldest_unpaid_due + a.non_accrual_after_days <= %(through)s, false)
  FROM ledger_account a
 WHERE a.tenant_id = %(tenant)s AND a.id BETWEEN %(lo)s AND %(hi)s AND a.status = 'open'
 ORDER BY a.id FOR UPDATE
"""

# Events rendered by the statements themselves, in the envelope ``outbox_add`` writes (tested equal to it).
def outbox_events_sql(source: str, payload: str) -> str:
    """An INSERT of one outbox event per row of the CTE ``source`` (it has an ``event_id`` column), in the
    envelope ``outbox_add`` writes; ``payload`` builds the event's payload from the row (alias ``s``).
    Parameters: event_type, tenant, correlation, occurred_at (``_envelope_params``)."""
    return f"""INSERT INTO bus_outbox (message_id, kind, name, tenant_id, correlation_id, body, created_at, sent_at,
                            attempts, last_error)
    SELECT s.event_id, 'event', %(event_type)s, %(tenant)s, %(correlation)s,
           jsonb_build_object('event_id', s.event_id, 'event_type', %(event_type)s, 'occurred_at', %(occurred_at)s,
                              'tenant_id', %(tenant)s, 'correlation_id', %(correlation)s, 'causation_id', NULL,
                              'payload', {payload}),
           now(), NULL, 0, ''
      FROM {source} s"""


LATE_FEE_PAYLOAD = """jsonb_build_object(
    'loan_id', s.loan_id, 'sequence', s.seq, 'transaction_id', s.transaction_id, 'kind', 'late_fee',
    'effective_date', s.effective_date, 'amount', s.amount, 'breakdown', jsonb_build_object('fees', s.amount),
    'reference', s.reference)"""

DELINQUENCY_PAYLOAD = """jsonb_build_object(
    'loan_id', s.loan_id, 'sequence', s.sequence, 'as_of', to_char(%(through)s::date, 'YYYY-MM-DD'),
    'days_past_due', s.days_past_due, 'previous_bucket', s.old_bucket, 'bucket', s.bucket,
    'non_accrual', s.non_accrual)"""

# Late fees: the fee rows, the accounts' fee balances, one ``transaction_posted`` (kind late_fee) per fee — its
# sequence is the account's after the chunk, as the day's UPDATE below bumps every account in SCOPE once — and
# the fees per product and day for the summarized journal.
LATE_FEES_SQL = f"""
WITH ins AS (
    INSERT INTO ledger_fee (account_id, kind, installment_number, payment_id, assessed_on, amount, reversed)
    SELECT a.id, 'late_fee', i.number, NULL,
           greatest(i.due_date + a.grace_days + 1, a.last_accrual_date + 1), a.late_fee, false
      FROM ledger_account a JOIN ledger_installment i ON i.account_id = a.id
     WHERE {SCOPE} AND a.late_fee > 0 AND a.oldest_unpaid_due + a.grace_days + 1 <= %(through)s
       AND i.due_date >= a.oldest_unpaid_due         -- unpaid: the oldest unpaid one and every later one
       AND i.due_date + a.grace_days + 1 <= %(through)s
    ORDER BY a.id, i.number
    ON CONFLICT (account_id, installment_number) WHERE kind = 'late_fee' AND NOT reversed DO NOTHING
    RETURNING account_id, installment_number, assessed_on, amount
), upd AS (
    UPDATE ledger_account a SET fees = a.fees + s.total
      FROM (SELECT account_id, sum(amount) AS total FROM ins GROUP BY account_id) s
     WHERE a.id = s.account_id
    RETURNING a.id, a.loan_id, a.sequence, a.places, a.product_id
), charged AS (
    SELECT gen_random_uuid() AS event_id, gen_random_uuid()::text AS transaction_id, u.loan_id, u.sequence + 1 AS seq,
           to_char(i.assessed_on, 'YYYY-MM-DD') AS effective_date, round(i.amount, u.places)::text AS amount,
           'installment:' || i.installment_number AS reference
      FROM ins i JOIN upd u ON u.id = i.account_id
), posted AS (
    {outbox_events_sql("charged", LATE_FEE_PAYLOAD)}
)
SELECT u.product_id, i.assessed_on, sum(i.amount)
  FROM ins i JOIN upd u ON u.id = i.account_id
 GROUP BY u.product_id, i.assessed_on
"""

# An account's entry in the progress event, rendered as JSON text by concatenation (several times cheaper than
# json_build_object on 100,000 rows; every value is a uuid, a number, an ISO date under ``datestyle = ISO``, a
# boolean or one of the fixed bucket/status words, so nothing needs escaping). Amounts with the account's places.
SUMMARY_SQL = """('{"loan_id":"' || a.loan_id || '","sequence":' || a.sequence
    || ',"balances":{"principal":"' || round(a.principal, a.places)
    || '","interest":"' || round(a.interest + a.interest_suspended, a.places)
    || '","fees":"' || round(a.fees, a.places)
    || '","total":"' || round(a.principal + a.interest + a.interest_suspended + a.fees, a.places)
    || '"},"last_accrual_date":"' || a.last_accrual_date || '","accrued":"' || round(coalesce(agg.today, 0), a.places)
    || '","posted":"' || round(coalesce(agg.total, 0), a.places)
    || '","posted_kind":"' || CASE WHEN a.non_accrual THEN 'accrual_suspended' ELSE 'accrual' END
    || '","days_past_due":' || a.days_past_due || ',"delinquency_bucket":"' || a.bucket
    || '","accrual_since":"' || a.interest_since
    || '","interest_accrued_since":"' || round(a.interest_posted_since, a.places)
    || '","non_accrual":' || a.non_accrual || ',"status":"' || a.status
    || '","oldest_unpaid_due":' || coalesce('"' || a.oldest_unpaid_due || '"', 'null') || '}')"""

# One statement per chunk does the day's work for every account in scope, and writes each account row once
# (a HOT update): the accrual rows (catch-up days included) from ``ledger_cumulative_interest`` (exactly
# ``common.finance.accrue``; for a flat-interest loan ``ledger_flat_cumulative_interest``, exactly
# ``common.finance.FlatInterest.cumulative``, its clock never restarted, so the same difference applies), the balances, the accrual clock, days past due and bucket, and a
# ``delinquency_changed`` event for every bucket change. It returns the day's accrual per product and date (for
# the summarized journal) and, in one more row, the accounts' entries for the progress event, rendered by
# PostgreSQL (the same documents ``ledger.events.account_summary`` builds; a test holds them equal).
ACCRUAL_SQL = f"""
WITH src AS (
    SELECT a.id, a.principal, a.annual_rate, a.day_count, a.interest_since, a.interest_posted_since,
           a.last_accrual_date, a.places, a.rounding_mode, a.product_id, a.non_accrual, a.bucket AS old_bucket,
           a.interest_method = 'flat' AS flat,
           greatest(0, %(through)s::date - coalesce(a.oldest_unpaid_due, %(through)s::date)) AS dpd
      FROM ledger_account a
     WHERE {SCOPE}
), days AS (
    SELECT src.id, src.interest_since, src.principal, src.interest_posted_since, src.flat, src.non_accrual,
           d::date AS day,
           CASE WHEN src.flat THEN ledger_flat_cumulative_interest(src.id, d::date, src.places, src.rounding_mode)
                ELSE ledger_cumulative_interest(src.principal, src.annual_rate, src.day_count, src.interest_since,
                                                d::date, src.places, src.rounding_mode) END AS cum
      FROM src, generate_series(src.last_accrual_date + 1, %(through)s::date, interval '1 day') AS d
), rows AS (
    SELECT id, day, cum, interest_since, principal, non_accrual,
           CASE WHEN flat AND principal = 0 THEN 0     -- a flat clock earns nothing while no principal is owed
                ELSE cum - coalesce(lag(cum) OVER (PARTITION BY id ORDER BY day), interest_posted_since) END AS amount
      FROM days
), ins AS (
    INSERT INTO ledger_accrual (account_id, accrual_date, amount, cumulative, since, balance, suspended, reversed)
    SELECT id, day, amount, cum, interest_since, principal, non_accrual, false FROM rows ORDER BY id, day
    ON CONFLICT (account_id, accrual_date) WHERE NOT reversed DO NOTHING
    RETURNING account_id, accrual_date, amount, cumulative, suspended
), agg AS (
    SELECT account_id, sum(amount) AS total, (array_agg(cumulative ORDER BY accrual_date DESC))[1] AS last_cum,
           sum(amount) FILTER (WHERE accrual_date = %(through)s) AS today
      FROM ins GROUP BY account_id
), upd AS (
    UPDATE ledger_account a
       SET interest = a.interest + CASE WHEN src.non_accrual THEN 0 ELSE coalesce(agg.total, 0) END,
           interest_suspended = a.interest_suspended + CASE WHEN src.non_accrual THEN coalesce(agg.total, 0) ELSE 0 END,
           interest_posted_since = coalesce(agg.last_cum, a.interest_posted_since),
           last_accrual_date = %(through)s, sequence = a.sequence + 1, updated_at = now(),
           days_past_due = src.dpd, bucket = {BUCKET_SQL.format(d="src.dpd")}
      FROM src LEFT JOIN agg ON agg.account_id = src.id
     WHERE a.id = src.id
    RETURNING a.loan_id, a.sequence, src.old_bucket, a.bucket, a.days_past_due, a.non_accrual,
              {SUMMARY_SQL} AS summary
), changed AS (
    SELECT gen_random_uuid() AS event_id, upd.* FROM upd WHERE upd.old_bucket <> upd.bucket
), delinquency AS (
    {outbox_events_sql("changed", DELINQUENCY_PAYLOAD)}
), journal AS (
    SELECT src.product_id, ins.accrual_date, ins.suspended, sum(ins.amount) AS total
      FROM ins JOIN src ON src.id = ins.account_id GROUP BY src.product_id, ins.accrual_date, ins.suspended
)
SELECT product_id, accrual_date, suspended, total, NULL::text FROM journal
UNION ALL
SELECT NULL, NULL, NULL, NULL, string_agg(summary, ',') FROM upd
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


def _post_summaries(tenant: str, kind: str, rows, impact_of, *, source: str, chunk: int) -> None:
    for product_id, day, amount in rows:
        journal.post(kind=kind, effective_date=day, impact=impact_of(amount), product_id=product_id or "",
                     tenant_id=tenant, reference=source, memo={"summary": "per tenant, product and day", "chunk": chunk})


def _advance_with_engine(ids: list[int], through: date, source: str) -> None:
    for account in Account.objects.filter(id__in=ids).order_by("id"):
        state = accounts.state_of(account)
        out = engine.Movements()
        engine.advance(state, accounts.rules_of(account), through, out)
        accounts.store(account, state)
        accounts.persist_movements(account, out, source=source)
        accounts.emit_delinquency_changes(account, out)


def process_chunk(*, run_id, through: date, index: int, lo: int, hi: int) -> int:
    """One chunk of a run (the caller holds the transaction). Returns the number of accounts done."""
    tenant = require_tenant()
    source = f"accrual_run:{run_id}"          # the reference of every journal entry the chunk posts
    params = {"tenant": tenant, "lo": lo, "hi": hi, "through": through}
    correlation = get_correlation_id() or uuid.uuid4().hex      # every event of the chunk carries the same one
    with connection.cursor() as cursor:
        # The planner cannot know generate_series yields ~1 day per account and would JIT-compile these
        # statements for millions of rows: seconds of compilation for milliseconds of work.
        cursor.execute("SET LOCAL jit = off")
        cursor.execute("SET LOCAL datestyle = 'ISO, YMD'")      # dates rendered into the progress event
        cursor.execute(LOCK_SQL, params)
        locked = cursor.fetchall()
        engine_ids = [account_id for account_id, by_engine in locked if by_engine]
        params["engine_ids"] = engine_ids
        _advance_with_engine(engine_ids, through, source)

        cursor.execute(LATE_FEES_SQL, {**params, **_envelope_params(TransactionPosted, correlation)})
        fees = cursor.fetchall()
        cursor.execute(ACCRUAL_SQL, {**params, **_envelope_params(DelinquencyChanged, correlation)})
        accrued, suspended, summaries = [], [], []
        for product_id, day, in_suspense, amount, rendered in cursor.fetchall():
            if day is not None:
                (suspended if in_suspense else accrued).append((product_id, day, amount))
            elif rendered:
                summaries.append(rendered)
    if engine_ids:
        for account in _engine_rows(engine_ids, through):
            # posted 0: the engine sent these accounts' accrual movements as transaction_posted already
            summaries.append(json.dumps(events.account_summary(account, account.accrued, posted=Decimal(0)),
                                        separators=(",", ":")))
    _post_summaries(tenant, "late_fee", sorted(fees), journal.fee_assessed, source=source, chunk=index)
    for in_suspense, rows in ((False, accrued), (True, suspended)):
        _post_summaries(tenant, journal.accrual_kind(in_suspense), sorted(rows),
                        functools.partial(journal.accrual, suspended=in_suspense), source=source, chunk=index)

    # The run row is the one row every chunk of the run writes, and its lock is held until commit: take it
    # last, with everything costly done before — the progress event rendered (the accounts' summaries come
    # rendered from PostgreSQL; only the run's status and counts are spliced in under the lock), the deferred
    # FK and journal-balance checks run now (SET CONSTRAINTS ... IMMEDIATE) rather than at commit — so the
    # run row is locked for one UPDATE + INSERT and the commit, and chunks do not queue behind each other.
    progress = _progress_row(run_id=run_id, through=through, accounts_json="[" + ",".join(summaries) + "]",
                             correlation=correlation)
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(MARK_DONE_SQL, {"run_id": run_id, "tenant": tenant, "index": index, "count": len(locked),
                                       **progress})
        if cursor.fetchone() is not None:
            cursor.execute(f"NOTIFY {NOTIFY_CHANNEL}")
    return len(locked)


class _EngineRow(NamedTuple):
    """An account advanced by the engine, re-read (duck-types ``Account`` for ``ledger.events``)."""

    id: int
    loan_id: object
    sequence: int
    places: int
    principal: Decimal
    interest: Decimal
    interest_suspended: Decimal
    fees: Decimal
    last_accrual_date: date
    days_past_due: int
    bucket: str
    interest_since: date
    interest_posted_since: Decimal
    non_accrual: bool
    status: str
    oldest_unpaid_due: date | None
    accrued: Decimal


ENGINE_ROWS_SQL = """
SELECT a.id, a.loan_id, a.sequence, a.places, a.principal, a.interest, a.interest_suspended, a.fees,
       a.last_accrual_date,
       a.days_past_due, a.bucket, a.interest_since, a.interest_posted_since, a.non_accrual, a.status,
       a.oldest_unpaid_due, coalesce(r.total, 0)
  FROM ledger_account a
  LEFT JOIN (SELECT account_id, sum(amount) AS total FROM ledger_accrual
              WHERE account_id = ANY(%(ids)s) AND accrual_date = %(through)s AND NOT reversed
              GROUP BY account_id) r ON r.account_id = a.id
 WHERE a.id = ANY(%(ids)s)
 ORDER BY a.id
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
       (%(head)s || to_json(run.status)::text || ',"accounts_total":' || run.accounts_total
        || ',"accounts_done":' || run.accounts_done || ',"accounts":' || %(accounts)s || '}' || %(tail)s)::jsonb,
       now(), NULL, 0, ''
  FROM run
RETURNING id
"""

_PAYLOAD_MARK = "@@payload@@"


def _envelope(payload_type, correlation: str) -> dict:
    """An envelope of ``payload_type`` with an empty payload, dumped as ``outbox_add`` writes it."""
    from common.bus.envelope import Envelope

    return Envelope(event_type=payload_type.EVENT_TYPE, tenant_id=require_tenant(), correlation_id=correlation,
                    payload={}).model_dump(mode="json")


def _envelope_params(payload_type, correlation: str) -> dict:
    """What ``outbox_events_sql`` needs for an event type: its name, the correlation id, the time."""
    envelope = _envelope(payload_type, correlation)
    return {"event_type": envelope["event_type"], "correlation": correlation, "occurred_at": envelope["occurred_at"]}


def _progress_row(*, run_id, through: date, accounts_json: str, correlation: str) -> dict:
    """The chunk's ``accrual_run.progressed`` outbox row (same envelope as ``outbox_add`` writes), rendered
    before the run row is locked: MARK_DONE_SQL splices in the run's status and counts from the row it
    updates, and the accounts' summaries (a JSON array) as given."""
    doc = _envelope(AccrualRunProgressed, correlation)
    message_id = doc["event_id"]
    doc["payload"] = _PAYLOAD_MARK
    head, tail = json.dumps(doc, separators=(",", ":")).split(json.dumps(_PAYLOAD_MARK))
    head += "{" + json.dumps({"run_id": str(run_id), "through": through.isoformat()},
                             separators=(",", ":"))[1:-1] + ',"status":'
    return {"message_id": message_id, "name": doc["event_type"], "correlation": correlation,
            "head": head, "tail": tail, "accounts": accounts_json}


def _engine_rows(ids: list[int], through: date) -> list[_EngineRow]:
    with connection.cursor() as cursor:
        cursor.execute(ENGINE_ROWS_SQL, {"ids": ids, "through": through})
        return [_EngineRow(*row) for row in cursor.fetchall()]
