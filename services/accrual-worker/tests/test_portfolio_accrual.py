"""The portfolio run (set-based SQL) posts exactly what the per-loan path (the engine) posts."""

import random
import uuid
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from common.bus.catalogue import AccrualRunProgressed, DelinquencyChanged, TransactionPosted
from common.bus.envelope import Envelope
from common.bus.models import OutboxMessage
from common.finance import DAY_COUNTS, accrue, add_months
from common.finance._util import fmt_money
from common.tenancy import tenant_context
from django.db import connection, transaction
from ledger import events, portfolio, services
from ledger.models import Account, Accrual, AccrualRun, Fee, JournalEntry, JournalLine
from tests.factories import bulk_open, disbursed_event, gl_sums

pytestmark = pytest.mark.django_db(transaction=True)


def mixed_events(n, seed=7):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        places = rng.choice([2, 2, 2, 0, 3])
        disbursed = date(2024, 1, 20) + timedelta(days=rng.randrange(0, 70))
        first = add_months(disbursed, 1)
        unit = Decimal(1).scaleb(-places)
        principal = (Decimal(rng.randrange(50_000, 5_000_000)) / 100).quantize(unit)
        out.append(dict(
            principal=str(principal), annual_rate=rng.choice(["0.12", "0.0999", "0.245", "0.05", "0.18375", "0"]),
            term=rng.choice([3, 6, 12, 24]), day_count=rng.choice(DAY_COUNTS),
            rounding_mode=rng.choice(["half_even", "half_up"]), places=places,
            disbursement_date=disbursed.isoformat(), first_payment_date=first.isoformat(),
            late_fee=rng.choice(["0", "15", "25.5"]) if places else "0", grace_days=rng.choice([5, 10, 15]),
            non_accrual_after_days=rng.choice([90, 20]), pays_first=rng.random() < 0.15,
            currency={0: "JPY", 2: "USD", 3: "KWD"}[places],
            interest_method=rng.choice(["declining_balance", "declining_balance", "declining_balance", "flat"]),
        ))
    return out


def seed(tenant, specs):
    """Accounts opened in bulk (rows only: accrual parity needs no opening journal); some pay installment 1."""
    events, payers = [], []
    for spec in specs:
        spec = dict(spec)
        pays_first = spec.pop("pays_first")
        events.append(disbursed_event(**spec))
        if pays_first:
            payers.append(events[-1])
    with tenant_context(tenant), transaction.atomic():
        bulk_open(events)
    for event in payers:
        first = event.schedule["installments"][0]
        with tenant_context(tenant), transaction.atomic():
            services.payment_allocate(payment_id=str(uuid.uuid4()), loan_id=event.loan_id, amount=first["total"],
                                      currency=event.currency, value_date=first["due_date"])
    return [e.loan_id for e in events]


def clone_tenant(source, target):
    """The same accounts (state, schedule, accruals so far) under another tenant, in SQL."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE clone_map AS SELECT id AS old_id, nextval(pg_get_serial_sequence("
                       "'ledger_account', 'id')) AS new_id FROM ledger_account WHERE tenant_id = %s", [source])
        columns = [f.column for f in Account._meta.concrete_fields if f.column not in ("id", "tenant_id", "loan_id")]
        cols = ", ".join(columns)
        cursor.execute(f"INSERT INTO ledger_account (id, tenant_id, loan_id, {cols}) SELECT m.new_id, %s, "
                       f"gen_random_uuid(), {cols} FROM ledger_account a JOIN clone_map m ON m.old_id = a.id "
                       "ORDER BY m.new_id", [target])
        cursor.execute("INSERT INTO ledger_installment (account_id, number, period_start, due_date, interest, total, "
                       "cumulative_total) SELECT m.new_id, number, period_start, due_date, interest, total, "
                       "cumulative_total FROM ledger_installment i JOIN clone_map m ON m.old_id = i.account_id")
        cursor.execute("INSERT INTO ledger_accrual (account_id, accrual_date, amount, cumulative, since, balance, "
                       "suspended, reversed) SELECT m.new_id, accrual_date, amount, cumulative, since, balance, "
                       "suspended, reversed "
                       "FROM ledger_accrual r JOIN clone_map m ON m.old_id = r.account_id")
        cursor.execute("INSERT INTO ledger_fee (account_id, kind, installment_number, payment_id, assessed_on, "
                       "amount, reversed) SELECT m.new_id, kind, installment_number, payment_id, assessed_on, amount, "
                       "reversed FROM ledger_fee f JOIN clone_map m ON m.old_id = f.account_id")
        cursor.execute("SELECT old_id, new_id FROM clone_map ORDER BY old_id")
        pairs = cursor.fetchall()
        cursor.execute("DROP TABLE clone_map")
    return pairs


def snapshot(account_ids):
    """Per account: its state, live accrual rows and fees (three queries for all accounts)."""
    fields = ("principal", "interest", "interest_suspended", "fees", "interest_since", "interest_posted_since", "last_accrual_date",
              "status", "non_accrual", "days_past_due", "bucket", "sequence")
    out = {i: [None, [], []] for i in account_ids}
    for row in Account.all_tenants.filter(id__in=account_ids).values_list("id", *fields):
        out[row[0]][0] = row[1:]
    for row in (Accrual.objects.filter(account_id__in=account_ids, reversed=False).order_by("accrual_date")
                .values_list("account_id", "accrual_date", "amount", "cumulative", "since", "balance", "suspended")):
        out[row[0]][1].append(row[1:])
    for row in (Fee.objects.filter(account_id__in=account_ids, reversed=False).order_by("kind", "installment_number")
                .values_list("account_id", "kind", "installment_number", "assessed_on", "amount")):
        out[row[0]][2].append(row[1:])
    return [out[i] for i in account_ids]


def run_portfolio(tenant, through):
    run_id = uuid.uuid4()
    with tenant_context(tenant):
        with transaction.atomic():
            run, todo = portfolio.run_start(run_id=run_id, through=through)
        for index, lo, hi in todo:
            with transaction.atomic():
                portfolio.process_chunk(run_id=run_id, through=through, index=index, lo=lo, hi=hi)
        return AccrualRun.objects.get(run_id=run_id)


def test_portfolio_and_per_loan_accrual_post_identical_rows_for_a_thousand_mixed_loans(monkeypatch):
    # given the same 1,000 mixed loans in two tenants (day counts, rounding, places, payments, late fees,
    # declining-balance and flat interest)
    per_loan = seed("perloan", mixed_events(1000))
    pairs = clone_tenant("perloan", "bulk")
    journal_from = JournalEntry.all_tenants.order_by("-id").values_list("id", flat=True).first() or 0
    through = date(2024, 4, 20)
    # when: one tenant accrues loan by loan, the other as a portfolio run (catching up weeks of days)
    with tenant_context("perloan"):
        for loan_id in per_loan:
            with transaction.atomic():
                services.account_accrue(loan_id=loan_id, through=through)
    monkeypatch.setattr(portfolio, "CHUNK_SIZE", 300)
    run = run_portfolio("bulk", through)
    # then
    assert run.status == "completed" and run.accounts_done == run.accounts_total == 1000
    assert snapshot([a for a, _ in pairs]) == snapshot([b for _, b in pairs])
    with tenant_context("bulk"):
        assert Account.objects.filter(non_accrual=True).exists()       # the engine path inside a chunk ran
        assert Fee.objects.filter(kind="late_fee").exists()
        assert Account.objects.filter(interest_method="flat", non_accrual=False, interest__gt=0).exists()
        assert JournalEntry.objects.filter(kind="accrual", account__isnull=True).exists()   # summarized GL
    # and running the same day again changes nothing
    before = snapshot([b for _, b in pairs])
    run_portfolio("bulk", through)
    assert snapshot([b for _, b in pairs]) == before
    # and a month later, accounts already in non-accrual accrue in the set-based statement, into suspense,
    # exactly as the engine does
    later = date(2024, 5, 20)
    with tenant_context("perloan"):
        for loan_id in per_loan:
            with transaction.atomic():
                services.account_accrue(loan_id=loan_id, through=later)
    run_portfolio("bulk", later)
    assert snapshot([a for a, _ in pairs]) == snapshot([b for _, b in pairs])
    with tenant_context("bulk"):
        assert Accrual.objects.filter(account__tenant_id="bulk", suspended=True, accrual_date=later).count() > 20
        assert JournalEntry.objects.filter(kind="accrual_suspended", account__isnull=True).exists()
    # and the journal (summarized per product and day on one side, per account on the other) moved every general-
    # ledger account, income and the memo pair alike, by the same amounts

    def moved(tenant):
        return gl_sums(JournalLine.objects.filter(entry__tenant_id=tenant, entry__id__gt=journal_from))

    assert moved("bulk") == moved("perloan")
    assert moved("bulk")["suspended_interest"] > 0


def test_sql_cumulative_interest_equals_common_finance_accrue_including_exact_halves():
    rng = random.Random(3)
    cases = []
    for _ in range(3000):
        places = rng.choice([0, 2, 3])
        since = date(2023, 1, 1) + timedelta(days=rng.randrange(0, 800))
        through = since + timedelta(days=rng.randrange(0, 400))
        conv = rng.choice(DAY_COUNTS)
        balance = Decimal(rng.randrange(1, 10**8)).scaleb(-places)
        rate = rng.choice([Decimal("0.12"), Decimal("0.36"), Decimal("0.072"), Decimal("0.0999"), Decimal("0.5")])
        cases.append((balance, rate, conv, since, through, places, rng.choice(["half_even", "half_up"])))
    # exact halves: 30/360, one day, 0.36 -> balance/1000; balance ending in 5 at places+3 decimals gives a tie
    for units in (5, 15, 25, 35, 1005, 2015):
        for mode in ("half_even", "half_up"):
            cases.append((Decimal(units) / 10, Decimal("0.36"), "30/360", date(2024, 1, 1), date(2024, 1, 2), 2, mode))
    with connection.cursor() as cursor:
        for case in cases:
            cursor.execute("SELECT ledger_cumulative_interest(%s, %s, %s, %s, %s, %s, %s)", list(case))
            got = cursor.fetchone()[0]
            balance, rate, conv, since, through, places, mode = case
            want = accrue(balance=balance, annual_rate=rate, day_count=conv, since=since, through=through,
                          already_posted=Decimal(0), places=places, mode=mode).cumulative
            assert got == want, case
    assert Fraction(1) == 1


def _state_before_run(tenant):
    with tenant_context(tenant):
        return {str(i): (d, na) for i, d, na in Account.objects.values_list("loan_id", "last_accrual_date",
                                                                             "non_accrual")}


def _expected_summary(account, before, through):
    """``ledger.events.account_summary`` of the stored row, with what the run posted for it: its accrual rows
    after the day it was accrued to before the run — 0 for an account the engine advanced (it entered
    non-accrual in the run and sent its own ``transaction_posted``)."""
    last, was_non_accrual = before[str(account.loan_id)]
    rows = Accrual.objects.filter(account_id=account.id, reversed=False, accrual_date__gt=last)
    today = sum((r.amount for r in rows if r.accrual_date == through), Decimal(0))
    by_engine = account.non_accrual and not was_non_accrual
    posted = Decimal(0) if by_engine else sum((r.amount for r in rows), Decimal(0))
    return events.account_summary(account, today, posted)


def test_progress_events_carry_each_account_as_the_per_loan_path_renders_it():
    # given 300 mixed loans (JPY, USD and KWD places, some late, some going non-accrual on the way)
    through = date(2024, 4, 20)
    seed("events", mixed_events(300, seed=11))
    with tenant_context("events"):
        behind = {str(i) for i in Account.objects.filter(last_accrual_date__lt=through).values_list("loan_id", flat=True)}
        buckets_before = {str(i): b for i, b in Account.objects.values_list("loan_id", "bucket")}
    state_before = _state_before_run("events")
    before = set(OutboxMessage.objects.values_list("id", flat=True))
    # when a portfolio run brings them up (chunks of 100, weeks of catch-up)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(portfolio, "CHUNK_SIZE", 100)
        run = run_portfolio("events", through)
    # then every account the run moved appears once (those disbursed later have nothing to report), rendered
    # exactly as ledger.events.account_summary renders the stored row
    progressed = [m.body for m in OutboxMessage.objects.exclude(id__in=before).filter(
        name=AccrualRunProgressed.EVENT_TYPE).order_by("id")]
    summaries = [a for body in progressed for a in body["payload"]["accounts"]]
    assert len(summaries) == len(behind) > 250 and {s["loan_id"] for s in summaries} == behind
    with tenant_context("events"):
        accounts = {str(a.loan_id): a for a in Account.objects.all()}
        assert Account.objects.filter(non_accrual=True).exists()        # the engine path ran too
    for summary in summaries:
        assert summary == _expected_summary(accounts[summary["loan_id"]], state_before, through), summary
    assert sum(Decimal(s["posted"]) > 0 for s in summaries) > 100
    # and what the loans service will list for each loan — the movements the engine sent for the accounts it
    # advanced, plus each account's ``posted`` — is exactly what the run accrued for it, counted once
    listed = {}
    for m in OutboxMessage.objects.exclude(id__in=before).filter(name=TransactionPosted.EVENT_TYPE):
        if m.body["payload"]["kind"] in ("accrual", "accrual_suspended"):
            loan = m.body["payload"]["loan_id"]
            listed[loan] = listed.get(loan, Decimal(0)) + Decimal(m.body["payload"]["amount"])
    for summary in summaries:
        listed[summary["loan_id"]] = listed.get(summary["loan_id"], Decimal(0)) + Decimal(summary["posted"])
    for loan_id, account in accounts.items():
        last = state_before[loan_id][0]
        accrued = sum(Accrual.objects.filter(account_id=account.id, reversed=False, accrual_date__gt=last)
                      .values_list("amount", flat=True), Decimal(0))
        assert listed.get(loan_id, Decimal(0)) == accrued, loan_id
    # and each bucket change is one delinquency event in the envelope every other event has
    change_rows = list(OutboxMessage.objects.exclude(id__in=before).filter(name=DelinquencyChanged.EVENT_TYPE))
    # (the raw bodies: exactly the keys outbox_add writes, nothing missing that validation would default)
    assert all(set(m.body) == set(Envelope.model_fields) and set(m.body["payload"]) == set(DelinquencyChanged.model_fields)
               for m in change_rows)
    changes = [Envelope.model_validate(m.body) for m in change_rows]
    assert len(changes) > 10
    for envelope in changes:
        change = DelinquencyChanged.model_validate(envelope.payload)
        account = accounts[change.loan_id]
        assert envelope.tenant_id == "events" and envelope.event_type == DelinquencyChanged.EVENT_TYPE
        assert change.model_dump() == {"loan_id": str(account.loan_id), "sequence": account.sequence,
                                       "as_of": "2024-04-20", "days_past_due": account.days_past_due,
                                       "previous_bucket": buckets_before[change.loan_id], "bucket": account.bucket,
                                       "non_accrual": account.non_accrual}
        assert change.previous_bucket != change.bucket
    assert len({e.event_id for e in changes}) == len(changes)
    # and each late fee is one transaction_posted event, as the per-loan path renders it (accounts the engine
    # advanced, on their way to non-accrual, emit theirs through ledger.events)
    fees = {(str(f.account.loan_id), f.installment_number): f for f in Fee.objects.select_related("account")
            .filter(kind="late_fee", account__tenant_id="events", account__non_accrual=False)}
    posted_rows = list(OutboxMessage.objects.exclude(id__in=before).filter(name=TransactionPosted.EVENT_TYPE))
    assert all(set(m.body) == set(Envelope.model_fields) and set(m.body["payload"]) == set(TransactionPosted.model_fields)
               for m in posted_rows)
    posted = [e for e in (Envelope.model_validate(m.body) for m in posted_rows)
              if e.payload["kind"] == "late_fee" and not accounts[e.payload["loan_id"]].non_accrual]
    assert len(posted) == len(fees) > 5
    for envelope in posted:
        fee_event = TransactionPosted.model_validate(envelope.payload)
        fee = fees[(fee_event.loan_id, int(fee_event.reference.removeprefix("installment:")))]
        account = accounts[fee_event.loan_id]
        amount = fmt_money(fee.amount, account.places)
        assert fee_event.model_dump() == {
            "loan_id": fee_event.loan_id, "sequence": account.sequence, "transaction_id": fee_event.transaction_id,
            "kind": "late_fee", "effective_date": fee.assessed_on.isoformat(), "amount": amount,
            "breakdown": {"fees": amount}, "reference": f"installment:{fee.installment_number}"}
    assert len({e.payload["transaction_id"] for e in posted}) == len(posted)
    # and the events a chunk renders (delinquency, late fees, progress) share one correlation id: at most one per
    # chunk (3) plus the run's start (accounts the engine advanced emit theirs through ledger.events)
    rendered = [m for m in OutboxMessage.objects.exclude(id__in=before).filter(
        name__in=[DelinquencyChanged.EVENT_TYPE, TransactionPosted.EVENT_TYPE, AccrualRunProgressed.EVENT_TYPE])
        if "loan_id" not in m.body["payload"] or not accounts[m.body["payload"]["loan_id"]].non_accrual]
    assert len(rendered) > 20 and 2 <= len({m.correlation_id for m in rendered}) <= 4
    # and the last event says the run completed, with its counts
    assert progressed[-1]["payload"]["status"] == "completed"
    assert progressed[-1]["payload"]["accounts_done"] == progressed[-1]["payload"]["accounts_total"] == 300
    assert run.accounts_done == 300
    # and a month later the statement itself renders the accounts already in non-accrual, their suspended
    # interest in the interest balance, exactly as ledger.events does
    later = date(2024, 5, 20)
    state_before = _state_before_run("events")
    before = set(OutboxMessage.objects.values_list("id", flat=True))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(portfolio, "CHUNK_SIZE", 100)
        run_portfolio("events", later)
    summaries = [a for m in OutboxMessage.objects.exclude(id__in=before).filter(name=AccrualRunProgressed.EVENT_TYPE)
                 for a in m.body["payload"]["accounts"]]
    with tenant_context("events"):
        accounts = {str(a.loan_id): a for a in Account.objects.all()}
    suspended = [s for s in summaries if accounts[s["loan_id"]].interest_suspended > 0]
    assert len(summaries) == 300 and len(suspended) > 10
    assert {s["posted_kind"] for s in suspended if Decimal(s["posted"]) > 0} == {"accrual_suspended"}
    for summary in summaries:
        assert summary == _expected_summary(accounts[summary["loan_id"]], state_before, later), summary


def test_every_journal_entry_names_its_source_run_task_or_payment():
    PAYMENT = str(uuid.uuid4())
    # given accounts in one tenant; one pays installment 1 late (its accrual to the value date and the late fee)
    [loan_id, *_] = seed("traced", [dict(spec, pays_first=False) for spec in
                                    ({"late_fee": "25.00", "grace_days": 5},) * 3])
    first = JournalEntry.all_tenants.order_by("-id").values_list("id", flat=True).first() or 0
    # when a portfolio run accrues them past the grace (summaries and late fees), a task accrues one loan, and a
    # payment is applied to another
    run = run_portfolio("traced", date(2024, 2, 25))
    with tenant_context("traced"), transaction.atomic():
        services.account_accrue(loan_id=loan_id, through=date(2024, 2, 27), source="accrual_task:t-1")
    other = Account.all_tenants.filter(tenant_id="traced").exclude(loan_id=loan_id).values_list("loan_id",
                                                                                                 flat=True)[0]
    with tenant_context("traced"), transaction.atomic():
        services.payment_allocate(payment_id=PAYMENT, loan_id=str(other), amount="100.00", currency="USD",
                                  value_date="2024-02-28")
    # then every entry names what posted it
    refs = set(JournalEntry.all_tenants.filter(tenant_id="traced", id__gt=first, kind__in=("accrual", "late_fee"))
               .values_list("kind", "reference"))
    assert refs == {("accrual", f"accrual_run:{run.run_id}"), ("late_fee", f"accrual_run:{run.run_id}"),
                    ("accrual", "accrual_task:t-1"), ("accrual", f"payment:{PAYMENT}")}
