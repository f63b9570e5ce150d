"""The worker's commands (names in ``common.commands``). Every task is a TenantTask; bodies are sync, use
the sync ORM and run in one transaction. Failure policy: an account or allocation that does not exist
yet (its event or command is still in flight) is retried with back-off — generously, never dropped; a
command that can never apply, or whose retries are exhausted, is rejected to ``ledger.dlq`` (the queue's
dead-letter target, ``common.bus.topology.command_queue_arguments``) and logged; a database outage is
retried."""

from __future__ import annotations

import structlog
from accrual_worker.celery import app
from celery.exceptions import Reject
from common import commands
from common.bus.outbox import command_add
from common.tasks import TenantTask
from common.tenancy import require_tenant
from django.db import DatabaseError, transaction

from ledger import services
from ledger.daily import (
    CATCH_UP_DAYS,
    RESUME_AFTER_SECONDS,
    daily_closing_hour,
    daily_run_id,
    latest_closed_date,
)
from ledger.errors import LedgerError

log = structlog.get_logger(__name__)

MAX_RETRIES = 120                 # with the cap below: more than eight hours of patience
MAX_COUNTDOWN = 300


def backoff(retries: int) -> int:
    return min(MAX_COUNTDOWN, 2 ** min(retries, 10))


class LedgerTask(TenantTask):
    abstract = True
    max_retries = MAX_RETRIES

    def run_atomic(self, fn, **kwargs):
        try:
            with transaction.atomic():
                return fn(**kwargs)
        except LedgerError as exc:
            if exc.retryable:
                self._retry_or_reject(exc)
            log.error("ledger.command_rejected", task=self.name, code=exc.code.value, error=exc.message,
                      args=kwargs)
            raise Reject(f"{exc.code.value}: {exc.message}", requeue=False) from exc
        except DatabaseError as exc:
            if type(exc).__name__ in {"OperationalError", "InterfaceError"}:
                self._retry_or_reject(exc)
            raise

    def _retry_or_reject(self, exc: Exception):
        if self.request.called_directly or self.request.is_eager:
            raise exc
        if self.request.retries >= self.max_retries:
            log.error("ledger.retries_exhausted", task=self.name, error=str(exc))
            raise Reject(f"retries exhausted: {exc}", requeue=False) from exc
        log.info("ledger.retry_scheduled", task=self.name, retries=self.request.retries, error=str(exc))
        raise self.retry(exc=exc, countdown=backoff(self.request.retries))


@app.task(base=TenantTask, name="ledger.ping", bind=True)
def ping(self) -> str:
    """Liveness of the command path: answers with the tenant it ran for."""
    return require_tenant()


@app.task(base=LedgerTask, name=commands.ALLOCATE_PAYMENT, bind=True)
def allocate_payment(self, payment_id, loan_id, amount, currency, value_date) -> dict:
    allocation = self.run_atomic(services.payment_allocate, payment_id=payment_id, loan_id=loan_id, amount=amount,
                                 currency=currency, value_date=value_date)
    return {"payment_id": str(allocation.payment_id), "fees": str(allocation.fees),
            "interest": str(allocation.interest), "principal": str(allocation.principal),
            "overpayment": str(allocation.overpayment)}


@app.task(base=LedgerTask, name=commands.REVERSE_PAYMENT, bind=True)
def reverse_payment(self, payment_id, reason="returned") -> str:
    allocation = self.run_atomic(services.payment_reverse, payment_id=payment_id, reason=reason or "")
    return str(allocation.payment_id)


@app.task(base=LedgerTask, name=commands.ACCRUE_DAILY_INTEREST, bind=True)
def accrue_daily_interest(self, loan_id, through) -> str:
    account = self.run_atomic(services.account_accrue, loan_id=loan_id, through=through,
                              source=f"accrual_task:{self.request.id}")
    return account.last_accrual_date.isoformat()


@app.task(base=LedgerTask, name=commands.CHARGE_OFF, bind=True)
def charge_off(self, loan_id, as_of) -> str:
    return self.run_atomic(services.account_charge_off, loan_id=loan_id, as_of=as_of).status


@app.task(base=LedgerTask, name=commands.WRITE_OFF, bind=True)
def write_off(self, loan_id, as_of) -> str:
    return self.run_atomic(services.account_write_off, loan_id=loan_id, as_of=as_of).status


def _start_run(task, run_id: str, through: str) -> int:
    """Create or resume the run and, in the same transaction, one command per chunk still to do (the outbox: the
    ledger's relay sends them). Sent after the commit instead, a broker error or a crash in between left the run
    ``running`` with no chunk on its way; a chunk sent twice (a resumed run) is a no-op for the accounts it did."""
    from datetime import date as _date

    from ledger import portfolio

    with transaction.atomic():
        run, todo = portfolio.run_start(run_id=run_id, through=_date.fromisoformat(str(through)))
        for index, lo, hi in todo:
            command_add(accrue_portfolio_chunk.name, args=[str(run.run_id), run.through.isoformat(), index, lo, hi])
    return len(todo)


@app.task(base=LedgerTask, name=commands.ACCRUE_PORTFOLIO, bind=True)
def accrue_portfolio(self, run_id, through) -> int:
    """Every open account of the tenant up to ``through``: one ``accrue_portfolio_chunk`` per chunk."""
    return _start_run(self, run_id, through)


@app.task(base=LedgerTask, name="ledger.accrue_portfolio_chunk", bind=True)
def accrue_portfolio_chunk(self, run_id, through, index, lo, hi) -> int:
    from datetime import date as _date

    from ledger import portfolio

    return self.run_atomic(portfolio.process_chunk, run_id=run_id, through=_date.fromisoformat(through),
                           index=index, lo=lo, hi=hi)


@app.task(base=LedgerTask, name=commands.RUN_DAILY, bind=True)
def run_daily(self, through) -> int:
    """The tenant's business day: accrual, then late fees and delinquency, as one portfolio run."""
    return _start_run(self, daily_run_id(require_tenant(), str(through)), through)


def _now():
    from django.utils import timezone

    return timezone.now()


@app.task(name="ledger.dispatch_daily", bind=True, acks_late=True)
def dispatch_daily(self, through=None) -> list[list[str]]:
    """Beat's entry point, every hour; the one task with no tenant by design. For each tenant with an open account
    (read through the explicit unscoped manager) it sends ``ledger.run_daily`` for the next business day to run,
    on the tenant's own clock (``common.tenancy.calendar``; a day closes at ``LEDGER_DAILY_HOUR`` local time):
    the day after its last completed run, one day per dispatch and oldest first (DOMAIN.md: missed days are caught
    up one by one) — or, for a tenant with no completed run or more than ``CATCH_UP_DAYS`` behind, its latest
    closed day in one run. A day whose run is in progress is left alone; one still unfinished an hour after it
    started is sent again (same run id: it resumes). ``through`` (a manual call) runs each tenant to that date, or
    to its latest closed day if that is earlier. Returns the [tenant, date] pairs sent."""
    from datetime import date, timedelta

    from common.tasks import TENANT_HEADER
    from django.db.models import Max

    from ledger.models import Account, AccrualRun

    now, closing_hour = _now(), daily_closing_hour()
    tenants = Account.all_tenants.filter(status="open").order_by().values_list("tenant_id", flat=True).distinct()
    last_completed = dict(AccrualRun.all_tenants.filter(status="completed").order_by().values("tenant_id")
                          .annotate(last=Max("through")).values_list("tenant_id", "last"))
    sent = []
    for tenant in sorted(tenants):
        closed = latest_closed_date(tenant, now, closing_hour)
        last = last_completed.get(tenant)
        if through is not None:
            day = min(date.fromisoformat(str(through)), closed)
        elif last is None or last < closed - timedelta(days=CATCH_UP_DAYS):
            day = closed
        else:
            day = last + timedelta(days=1)
        if day > closed or (last is not None and last >= day):
            continue
        run = AccrualRun.all_tenants.filter(run_id=daily_run_id(tenant, day.isoformat())).first()
        if run is not None and (run.status == "completed"
                                or (now - run.started_at).total_seconds() < RESUME_AFTER_SECONDS):
            continue
        run_daily.apply_async(args=[day.isoformat()], headers={TENANT_HEADER: tenant})
        sent.append([tenant, day.isoformat()])
    return sent
