"""Across the broker: a real Celery worker on RabbitMQ, the event consumer's handler path, the health server."""

import json
import os
import urllib.request
import uuid
from datetime import date
from decimal import Decimal

import pytest
from common.bus.config import bus_settings
from common.bus.consumer import handle_delivery
from common.bus.dead_letters import list_command_dead_letters, replay_command_dead_letters
from common.bus.envelope import Envelope
from common.bus.models import OutboxMessage
from common.bus.relay import Relay
from common.tasks import TENANT_HEADER
from common.tenancy import tenant_context
from common.testing import purge_queue, running_worker, wait_until
from django.db import transaction
from ledger.models import Account, Allocation, JournalEntry
from tests.factories import disbursed_event

pytestmark = pytest.mark.django_db(transaction=True)
T = "acme"


@pytest.fixture
def worker():
    os.environ.setdefault("LENDSIMPLE_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/lendsimple_test")
    from accrual_worker.celery import app

    purge_queue(app, "ledger")
    purge_queue(app, "ledger.dlq")
    with running_worker(app, concurrency=4, queues=["ledger"]):
        yield app


def deliver(event, event_id=None):
    from common.bus.handlers import autodiscover

    autodiscover()  # what `manage.py consume --service ledger` does at start
    envelope = Envelope(event_id=event_id or uuid.uuid4(), event_type=event.EVENT_TYPE, tenant_id=T,
                        payload=event.model_dump(mode="json"))
    return handle_delivery("ledger", envelope.to_json(), None, bus_settings())


def allocated(payment_id):
    return Allocation.all_tenants.filter(payment_id=payment_id).first()


def test_the_disbursed_event_opens_the_account_once_through_the_consumer_path():
    # given
    event = disbursed_event(origination_fee="150.00")
    event_id = uuid.uuid4()
    # when: delivered twice with the same id, and once more with another id (a producer replay)
    verdicts = [deliver(event, event_id).outcome, deliver(event, event_id).outcome, deliver(event).outcome]
    # then
    assert verdicts == ["handled", "duplicate", "handled"]
    with tenant_context(T):
        account = Account.objects.get(loan_id=event.loan_id)
        assert (account.principal, account.fees) == (Decimal("10000.00"), Decimal("150.00"))
        assert JournalEntry.objects.filter(account=account).count() == 2
    names = list(OutboxMessage.objects.values_list("name", flat=True))
    for name in ("ledger.account.opened.v1", "ledger.loan.balance_changed.v1", "ledger.loan.transaction_posted.v1"):
        assert name in names
    assert names.count("ledger.account.opened.v1") == 1


def test_a_payment_sent_before_the_account_opens_is_retried_then_allocated_once(worker):
    # given: the allocate command arrives before the disbursed event (twice: a duplicate delivery)
    from ledger.tasks import allocate_payment

    event = disbursed_event()
    payment_id = str(uuid.uuid4())
    args = [payment_id, event.loan_id, "888.49", "USD", "2024-02-15"]
    for _ in range(2):
        allocate_payment.apply_async(args=args, headers={TENANT_HEADER: T})
    # when the account opens a moment later
    import time

    time.sleep(1.5)
    assert allocated(payment_id) is None
    assert deliver(event).outcome == "handled"
    # then
    allocation = wait_until(lambda: allocated(payment_id), timeout=30, message="allocation after retry")
    assert (allocation.interest, allocation.principal) == (Decimal("100.00"), Decimal("788.49"))
    time.sleep(3)
    assert Allocation.all_tenants.filter(payment_id=payment_id).count() == 1
    assert OutboxMessage.objects.filter(name="ledger.payment.allocated.v1").count() == 1


def test_a_task_without_a_tenant_is_refused_and_never_runs(worker):
    from ledger.tasks import accrue_daily_interest

    event = disbursed_event()
    assert deliver(event).outcome == "handled"
    # when sent with no tenant header; then with one
    worker.send_task("ledger.accrue_daily_interest", args=[event.loan_id, "2024-01-20"])
    accrue_daily_interest.apply_async(args=[event.loan_id, "2024-01-18"], headers={TENANT_HEADER: T})
    wait_until(lambda: Account.all_tenants.get(loan_id=event.loan_id).last_accrual_date == date(2024, 1, 18),
               timeout=30, message="the tenant's task ran")
    import time

    time.sleep(2)
    assert Account.all_tenants.get(loan_id=event.loan_id).last_accrual_date == date(2024, 1, 18)
    # and the refused command is kept in ledger.dlq (not dropped), with what an operator needs to see
    [dead] = list_command_dead_letters("ledger")
    assert (dead["task"], dead["args"], dead["tenant_id"], dead["reason"]) == (
        "ledger.accrue_daily_interest", [event.loan_id, "2024-01-20"], None, "rejected")


def test_a_command_that_exhausts_its_retries_is_dead_lettered_and_replays_once_mended(worker, monkeypatch):
    # given an allocation whose account never opens within its (here: one) retry
    from ledger.tasks import allocate_payment

    monkeypatch.setattr(allocate_payment, "max_retries", 1)
    event = disbursed_event()
    payment_id = str(uuid.uuid4())
    allocate_payment.apply_async(args=[payment_id, event.loan_id, "888.49", "USD", "2024-02-15"],
                                 headers={TENANT_HEADER: T})
    # when it gives up, then it is in ledger.dlq, not lost
    dead = wait_until(lambda: list_command_dead_letters("ledger"), timeout=30, message="the dead-lettered command")
    assert [(d["task"], d["args"][0], d["tenant_id"], d["reason"]) for d in dead] == [
        ("ledger.allocate_payment", payment_id, T, "rejected")]
    assert allocated(payment_id) is None
    # and once the cause is mended (the account opens), the operator replays it: allocated exactly once
    assert deliver(event).outcome == "handled"
    assert [d["task_id"] for d in replay_command_dead_letters("ledger")] == [dead[0]["task_id"]]
    allocation = wait_until(lambda: allocated(payment_id), timeout=30, message="the replayed allocation")
    assert (allocation.interest, allocation.principal) == (Decimal("100.00"), Decimal("788.49"))
    assert list_command_dead_letters("ledger") == []


def test_worker_threads_keep_their_database_connection_across_tasks(worker):
    # given: Celery's Django fixup used to close every connection around every task (a new PostgreSQL
    # connection per payment)
    import threading

    from django.db.backends.signals import connection_created
    from ledger.tasks import accrue_daily_interest

    event = disbursed_event()
    assert deliver(event).outcome == "handled"
    opened = []

    def count(sender, connection, **kwargs):
        if threading.current_thread() is not threading.main_thread():
            opened.append(threading.current_thread().name)

    connection_created.connect(count)
    try:
        # when 30 tasks run one after another
        for day in range(16, 46):
            accrue_daily_interest.apply_async(args=[event.loan_id, date.fromordinal(date(2024, 1, 1).toordinal()
                                                                                     + day - 1).isoformat()],
                                              headers={TENANT_HEADER: T})
        wait_until(lambda: Account.all_tenants.get(loan_id=event.loan_id).last_accrual_date == date(2024, 2, 14),
                   timeout=60, message="the 30 accrual tasks")
    finally:
        connection_created.disconnect(count)
    # then each of the 4 worker threads opened at most one connection
    assert len(opened) <= 4, opened


def test_portfolio_run_through_the_worker_completes_and_reports_progress(worker, monkeypatch):
    from ledger import portfolio
    from ledger.models import AccrualRun
    from ledger.tasks import accrue_portfolio

    for _ in range(5):
        deliver(disbursed_event())
    monkeypatch.setattr(portfolio, "CHUNK_SIZE", 2)
    run_id = str(uuid.uuid4())
    with tenant_context(T), transaction.atomic():
        transaction.on_commit(lambda: accrue_portfolio.apply_async(args=[run_id, "2024-01-25"]))
    relay = Relay()

    def completed():
        relay.drain()           # the chunk commands go through the outbox: the ledger's relay sends them
        return AccrualRun.all_tenants.filter(run_id=run_id, status="completed").first()

    run = wait_until(completed, timeout=30, message="run completed")
    assert (run.accounts_total, run.accounts_done, run.chunks_total) == (5, 5, 3)
    assert set(Account.all_tenants.values_list("last_accrual_date", flat=True)) == {date(2024, 1, 25)}
    progress = [m.body["payload"] for m in OutboxMessage.objects.filter(name="ledger.accrual_run.progressed.v1")
                .order_by("id")]   # (the relay updated the rows: without an order, the heap order is any)
    assert progress[-1]["status"] == "completed" and progress[-1]["accounts_done"] == 5
    assert sum(len(p["accounts"]) for p in progress) == 5


def test_the_health_server_answers_healthz_readyz_and_metrics():
    from ledger.health import start_health_server

    server = start_health_server(0, host="127.0.0.1")
    assert server is None  # port 0 disables it
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = start_health_server(port, host="127.0.0.1")
    try:
        base = f"http://127.0.0.1:{port}"
        assert json.load(urllib.request.urlopen(base + "/healthz"))["status"] == "ok"
        ready = json.load(urllib.request.urlopen(base + "/readyz", timeout=10))
        assert ready == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}
        assert b"lendsimple_" in urllib.request.urlopen(base + "/metrics").read()
    finally:
        server.shutdown()
        server.server_close()


def test_a_command_failing_with_an_unexpected_error_is_dead_lettered_not_dropped(worker):
    # given a command whose body fails with an error no handler expects (a value date that is not a date)
    from ledger.tasks import allocate_payment

    event = disbursed_event()
    assert deliver(event).outcome == "handled"
    payment_id = str(uuid.uuid4())
    allocate_payment.apply_async(args=[payment_id, event.loan_id, "888.49", "USD", "2024-02-31"],
                                 headers={TENANT_HEADER: T})
    # then it is kept in ledger.dlq for an operator (Celery acknowledged, i.e. dropped, a failed late-ack task)
    dead = wait_until(lambda: list_command_dead_letters("ledger"), timeout=30, message="the dead-lettered command")
    assert [(d["task"], d["args"][0], d["tenant_id"]) for d in dead] == [("ledger.allocate_payment", payment_id, T)]
    assert allocated(payment_id) is None


def test_a_command_waiting_for_its_retry_does_not_hold_a_workers_slot(monkeypatch):
    """Countdown retries wait in the broker (native delayed delivery, a topic exchange), not unacknowledged in the
    worker: the ledger queue is a quorum queue, where Celery cannot raise the prefetch for them, so held retries
    (an account not open yet, 120 retries of up to 5 minutes) filled the worker and stalled every other command."""
    from accrual_worker.celery import app
    from ledger import tasks
    from ledger.tasks import accrue_daily_interest, allocate_payment

    purge_queue(app, "ledger")
    purge_queue(app, "ledger.dlq")
    monkeypatch.setattr(tasks, "backoff", lambda retries: 60)         # a long wait before the retry
    multiplier, app.conf.worker_prefetch_multiplier = app.conf.worker_prefetch_multiplier, 1
    with running_worker(app, concurrency=1, queues=["ledger"]):      # one slot: prefetch 1
        # given a payment whose account is not open: it is retried in 60 s
        waiting = disbursed_event()
        allocate_payment.apply_async(args=[str(uuid.uuid4()), waiting.loan_id, "10.00", "USD", "2024-02-15"],
                                     headers={TENANT_HEADER: T})
        import time

        time.sleep(3)
        # when another command arrives, then it runs now, not after the retry's countdown
        event = disbursed_event()
        assert deliver(event).outcome == "handled"
        accrue_daily_interest.apply_async(args=[event.loan_id, "2024-01-18"], headers={TENANT_HEADER: T})
        wait_until(lambda: Account.all_tenants.get(loan_id=event.loan_id).last_accrual_date == date(2024, 1, 18),
                   timeout=20, message="the other command ran while the first waited for its retry")
    app.conf.worker_prefetch_multiplier = multiplier
    purge_queue(app, "ledger")
