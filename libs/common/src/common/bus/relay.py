"""The outbox relay: publishes committed outbox rows, and nothing else, at least once.

One batch is one transaction: claim up to ``batch_size`` unsent rows (``FOR UPDATE SKIP LOCKED``,
oldest first), publish the events with pika and wait for one round of broker confirms, send the
commands with Celery (``send_task``, task id = the row's ``message_id``), then mark exactly the
confirmed rows ``sent_at`` and commit. A relay that dies before the commit leaves its rows unsent
and unlocked, so another relay (or itself, restarted) sends them again: a duplicate on the broker is
possible, a loss is not, and consumers dedupe by ``event_id`` (inbox) or task id (idempotent tasks).
Several relays of one service share the work without sending a row twice while they live.

It wakes on ``NOTIFY lendsimple_outbox`` (sent by ``outbox_add`` at commit) and sweeps every
``sweep_ms`` regardless, so a lost notification only delays a row.
"""

from __future__ import annotations

import os
import signal
import time
from collections import defaultdict
from dataclasses import dataclass, field

import structlog
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.db.models import Count, F, Min
from django.utils import timezone

from common.bus.amqp import (
    BROKER_ERRORS,
    Backoff,
    ConfirmingPublisher,
    GracefulStop,
    PublishTimeout,
    close_quietly,
    connect,
    connection_name,
)
from common.bus.config import BusSettings, bus_settings
from common.bus.outbox import NOTIFY_CHANNEL
from common.bus.topology import declare_exchanges, events_exchange
from common.bus.wire import encode_body, event_properties
from common.logging import bind_context
from common.metrics import OUTBOX_BACKLOG, OUTBOX_FAILED, OUTBOX_OLDEST_AGE, OUTBOX_PUBLISHED

log = structlog.get_logger("common.bus.relay")

# Fault injection for the crash and concurrency tests: SIGKILL ourselves at a chosen point of a batch,
# or hold the claimed rows' locks a while ("hold_after_claim=<ms>").
FAULT_ENV = "LENDSIMPLE_RELAY_FAULT"          # kill_after_claim | kill_after_publish | hold_after_claim=<ms>
CONFIRM_TIMEOUT = 30.0
METRICS_EVERY = 1.0


@dataclass
class BatchOutcome:
    claimed: int = 0
    sent: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)      # row id -> error
    broker_error: BaseException | None = None


def relay_celery_app(settings: BusSettings):
    """A Celery app for sending commands: publisher confirms on, bounded publish retries."""
    from common.celery_app import make_celery

    app = make_celery("lendsimple-relay")
    app.conf.broker_transport_options = {
        "confirm_publish": True,
        "client_properties": {"connection_name": connection_name("relay-commands", settings)},
    }
    app.conf.broker_connection_timeout = 5
    app.conf.task_publish_retry_policy = {"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5,
                                          "interval_max": 1.0}
    return app


class Relay:
    def __init__(self, *, batch_size: int | None = None, sweep_ms: int | None = None,
                 settings: BusSettings | None = None, stop: GracefulStop | None = None):
        self.settings = settings or bus_settings()
        self.batch_size = batch_size or self.settings.relay_batch_size
        self.sweep_seconds = (sweep_ms or self.settings.relay_sweep_ms) / 1000
        self.stop = stop or GracefulStop()
        self.exchange = events_exchange(self.settings)
        self._fault = os.environ.get(FAULT_ENV, "")
        self._connection = None
        self._publisher: ConfirmingPublisher | None = None
        self._celery = None
        self._listener = None
        self._metrics_at = 0.0
        self._backoff = Backoff()

    # --- the loop ---------------------------------------------------------------------------------
    def run(self) -> None:
        self.stop.install()
        log.info("relay.started", batch_size=self.batch_size, sweep_ms=int(self.sweep_seconds * 1000),
                 exchange=self.exchange)
        try:
            while not self.stop.requested:
                try:
                    self._ensure_listener()
                    outcome = self.relay_batch()
                    self._refresh_metrics()
                except DatabaseError as exc:
                    log.warning("relay.database_error", error=str(exc))
                    self._close_database()
                    self.stop.sleep(self._backoff.next_delay())
                    continue
                if outcome.broker_error is not None:
                    self.stop.sleep(self._backoff.next_delay())
                    continue
                self._backoff.reset()
                if outcome.claimed < self.batch_size:
                    self._wait_for_work()
        finally:
            self.close()
            log.info("relay.stopped")

    def drain(self) -> int:
        """Relay until no unsent row is left (or a broker error); returns the rows sent."""
        sent = 0
        while True:
            outcome = self.relay_batch()
            sent += len(outcome.sent)
            if outcome.broker_error is not None or outcome.claimed < self.batch_size:
                self._refresh_metrics(force=True)
                return sent

    # --- one batch ----------------------------------------------------------------------------------
    def relay_batch(self) -> BatchOutcome:
        from common.bus.models import OutboxMessage

        started = time.monotonic()
        close_old_connections()
        outcome = BatchOutcome()
        with transaction.atomic():
            rows = list(OutboxMessage.objects.select_for_update(skip_locked=True)
                        .filter(sent_at__isnull=True).order_by("id")[: self.batch_size])
            outcome.claimed = len(rows)
            if not rows:
                return outcome
            self._inject_fault("after_claim")
            self._publish_events([r for r in rows if r.kind == OutboxMessage.KIND_EVENT], outcome)
            self._send_commands([r for r in rows if r.kind == OutboxMessage.KIND_COMMAND], outcome)
            self._inject_fault("after_publish")
            self._record(outcome)
        kinds = {r.id: r.kind for r in rows}
        for kind in (OutboxMessage.KIND_EVENT, OutboxMessage.KIND_COMMAND):
            sent = sum(1 for i in outcome.sent if kinds[i] == kind)
            failed = sum(1 for i in outcome.failed if kinds[i] == kind)
            if sent:
                OUTBOX_PUBLISHED.labels(kind=kind).inc(sent)
            if failed:
                OUTBOX_FAILED.labels(kind=kind).inc(failed)
        log.info("relay.batch", claimed=outcome.claimed, sent=len(outcome.sent), failed=len(outcome.failed),
                 ms=round((time.monotonic() - started) * 1000, 1))
        return outcome

    def _publish_events(self, rows, outcome: BatchOutcome) -> None:
        if not rows:
            return
        by_message = {str(r.message_id): r for r in rows}
        try:
            publisher = self._ensure_broker()
            for row in rows:
                publisher.publish(exchange=self.exchange, routing_key=row.name, body=encode_body(row.body),
                                  properties=event_properties(event_id=str(row.message_id), event_type=row.name,
                                                              tenant_id=row.tenant_id,
                                                              correlation_id=row.correlation_id or None,
                                                              occurred_at=row.created_at),
                                  mandatory=True)
            result = publisher.wait_for_confirms(CONFIRM_TIMEOUT)
        except (*BROKER_ERRORS, PublishTimeout) as exc:
            result = self._publisher.take_result() if self._publisher else None
            outcome.broker_error = exc
            log.warning("relay.broker_error", error=repr(exc), kind="event")
            self._drop_broker()
        confirmed = result.acked if result else set()
        for message_id, row in by_message.items():
            with bind_context(event_id=message_id, event_type=row.name, tenant_id=row.tenant_id,
                              correlation_id=row.correlation_id or None):
                if message_id in confirmed:
                    outcome.sent.append(row.id)
                    if message_id in result.returned:
                        log.warning("relay.unroutable", detail="no queue is bound to this event type")
                    else:
                        log.debug("relay.published")
                else:
                    reason = ("nacked by the broker" if result and message_id in result.nacked
                              else f"unconfirmed: {outcome.broker_error!r}")
                    outcome.failed[row.id] = reason
                    log.warning("relay.publish_failed", error=reason)

    def _send_commands(self, rows, outcome: BatchOutcome) -> None:
        from common.tasks import send_command

        for row in rows:
            if outcome.broker_error is not None:
                return      # the broker is gone: leave the rest of the batch unsent, untouched
            body = row.body or {}
            with bind_context(task_id=str(row.message_id), task=row.name, tenant_id=row.tenant_id,
                              correlation_id=row.correlation_id or None):
                try:
                    send_command(self._celery_app(), row.name, args=body.get("args", ()),
                                 kwargs=body.get("kwargs") or {}, tenant_id=row.tenant_id,
                                 correlation_id=row.correlation_id or None, task_id=str(row.message_id),
                                 queue=body.get("queue"))
                except Exception as exc:  # noqa: BLE001 - kombu raises many types; the row stays unsent
                    outcome.failed[row.id] = f"send_task failed: {exc!r}"
                    outcome.broker_error = exc
                    log.warning("relay.command_failed", error=repr(exc))
                    self._drop_celery()
                    continue
                outcome.sent.append(row.id)
                log.debug("relay.command_sent")

    @staticmethod
    def _record(outcome: BatchOutcome) -> None:
        from common.bus.models import OutboxMessage

        if outcome.sent:
            OutboxMessage.objects.filter(id__in=outcome.sent).update(
                sent_at=timezone.now(), attempts=F("attempts") + 1, last_error="")
        by_error: dict[str, list[int]] = defaultdict(list)
        for row_id, error in outcome.failed.items():
            by_error[error[:2000]].append(row_id)
        for error, ids in by_error.items():
            OutboxMessage.objects.filter(id__in=ids).update(attempts=F("attempts") + 1, last_error=error)

    def _inject_fault(self, point: str) -> None:
        if not self._fault:
            return
        if self._fault == f"kill_{point}":
            log.warning("relay.fault_injected", point=point)
            os.kill(os.getpid(), signal.SIGKILL)
        if self._fault.startswith(f"hold_{point}="):
            time.sleep(int(self._fault.split("=", 1)[1]) / 1000)

    # --- waiting for work ---------------------------------------------------------------------------
    def _ensure_listener(self) -> None:
        if self._listener is not None:
            return
        try:
            import psycopg

            # A connection of its own, outside Django's pool (LENDSIMPLE_DB_POOL_MAX): it lives as long
            # as the relay and must not be handed to anyone else.
            listener = psycopg.connect(**connection.get_connection_params(), autocommit=True)
            listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
            self._listener = listener
        except Exception as exc:  # noqa: BLE001 - without LISTEN the sweep still finds every row
            log.warning("relay.listen_failed", error=repr(exc))

    def _wait_for_work(self) -> None:
        """Until a NOTIFY, the sweep interval, or a stop request, whichever comes first."""
        deadline = time.monotonic() + self.sweep_seconds
        while not self.stop.requested and (remaining := deadline - time.monotonic()) > 0:
            self._service_broker()
            if self._listener is None:
                self.stop.sleep(remaining)
                return
            try:
                if any(True for _ in self._listener.notifies(timeout=min(remaining, 0.25), stop_after=1)):
                    # Coalesce the burst: one batch serves every commit that notified so far.
                    for _ in self._listener.notifies(timeout=0.001):
                        pass
                    return
            except Exception as exc:  # noqa: BLE001 - a dead LISTEN connection: fall back to sweeping
                log.warning("relay.listen_lost", error=repr(exc))
                self._close_listener()

    def _service_broker(self) -> None:
        """Heartbeats and a broker-closed connection are only seen while pika reads the socket."""
        if self._connection is None:
            return
        try:
            self._connection.process_data_events(time_limit=0)
        except BROKER_ERRORS as exc:
            log.warning("relay.broker_error", error=repr(exc), kind="idle")
            self._drop_broker()

    # --- metrics ------------------------------------------------------------------------------------
    def _refresh_metrics(self, force: bool = False) -> None:
        from common.bus.models import OutboxMessage

        now = time.monotonic()
        if not force and now - self._metrics_at < METRICS_EVERY:
            return
        self._metrics_at = now
        stats = OutboxMessage.objects.filter(sent_at__isnull=True).aggregate(n=Count("id"), oldest=Min("created_at"))
        OUTBOX_BACKLOG.set(stats["n"])
        OUTBOX_OLDEST_AGE.set((timezone.now() - stats["oldest"]).total_seconds() if stats["oldest"] else 0)

    # --- connections --------------------------------------------------------------------------------
    def _ensure_broker(self) -> ConfirmingPublisher:
        if self._publisher is None:
            self._connection = connect("relay", self.settings)
            declare_exchanges(self._connection.channel(), self.settings)
            self._publisher = ConfirmingPublisher(self._connection)
            log.info("relay.broker_connected")
        return self._publisher

    def _celery_app(self):
        if self._celery is None:
            self._celery = relay_celery_app(self.settings)
        return self._celery

    def _drop_broker(self) -> None:
        close_quietly(self._connection)
        self._connection = self._publisher = None

    def _drop_celery(self) -> None:
        if self._celery is not None:
            try:
                self._celery.close()
            except Exception:  # noqa: BLE001 - the connection is already broken
                pass
            self._celery = None

    def _close_listener(self) -> None:
        if self._listener is not None:
            try:
                self._listener.close()
            except Exception:  # noqa: BLE001
                pass
            self._listener = None

    def _close_database(self) -> None:
        self._close_listener()
        try:
            connection.close()
        except Exception:  # noqa: BLE001
            pass

    def close(self) -> None:
        self._drop_broker()
        self._drop_celery()
        self._close_listener()
