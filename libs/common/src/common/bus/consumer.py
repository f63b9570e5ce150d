"""The event consumer of one service: ``manage.py consume --service <name>``.

Per message, with manual acks:

1. parse the envelope and the payload (unparseable → the DLQ at once, nothing to retry);
2. with the envelope's tenant and correlation id restored, in ONE ``transaction.atomic()``: insert the
   inbox row ``(consumer, event_id)`` first, then run the handlers. A duplicate trips the inbox's
   unique constraint and is acked without effect;
3. after the commit, ack. A handler error publishes the message to the retry queue of its attempt
   (``x-lendsimple-attempt`` + 1) and then acks the original; after ``max_attempts`` it goes to the
   service's DLQ with the error in its headers. Never acked and dropped.

Deliveries already waiting in the channel's buffer are handled as one batch (up to
``LENDSIMPLE_BUS_CONSUMER_BATCH``): step 2 for each of them in ONE transaction, without savepoints; the
acks (and nothing else: a batch only commits when every message in it was handled) are sent after the
commit. If any message of the batch fails, turns out a duplicate, or the commit itself fails, nothing of
the batch is kept and each of its messages is handled again on its own, exactly as above. Under load one
commit serves many events; an idle consumer still handles a lone message at once.

A consumer that dies anywhere before the ack gets the message redelivered; the inbox makes the
second run a no-op if the first one committed.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import structlog
from django.db import (
    IntegrityError,
    InterfaceError,
    OperationalError,
    close_old_connections,
    connection,
    transaction,
)
from pydantic import ValidationError

from common.bus.amqp import BROKER_ERRORS, Backoff, GracefulStop, close_quietly, connect
from common.bus.catalogue import payload_model
from common.bus.config import BusSettings, bus_settings
from common.bus.context import handling
from common.bus.envelope import Envelope
from common.bus.handlers import event_types_for, handlers_for, retired_for
from common.bus.topology import ServiceQueues, dead_letter_exchange, declare_service
from common.bus.wire import attempt_of, failure_headers, republished
from common.logging import bind_context
from common.metrics import CONSUMED, CONSUMER_BATCH
from common.tenancy import tenant_context

log = structlog.get_logger("common.bus.consumer")

INBOX_CONSTRAINT = "bus_inbox_once"


class _BatchAborted(Exception):
    """A batch's transaction cannot commit; its messages are handled again one by one."""


class _Duplicate(Exception):
    """The inbox already holds this (consumer, event_id): the event was handled before."""


@dataclass(frozen=True)
class Verdict:
    action: str                           # ack | retry | dead_letter | abort (a batch must be redone)
    outcome: str                          # handled | duplicate | retired | retried | dead_lettered | aborted
    event_type: str = "unknown"
    attempt: int = 0                      # failed attempts including this one
    error: BaseException | str | None = None
    reason: str | None = None             # why it was dead-lettered


def _is_inbox_conflict(exc: IntegrityError) -> bool:
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None) == INBOX_CONSTRAINT


def handle_delivery(consumer: str, body: bytes, properties: Any, settings: BusSettings, *,
                    savepoint: bool = True) -> Verdict:
    """Decide the fate of one delivery and apply its effect; no broker I/O here.

    ``savepoint=False`` (inside a batch's transaction): no savepoint of its own, so a failure or a
    duplicate marks the whole batch for rollback and the batch is redone message by message."""
    from common.bus.models import InboxMessage

    message_id = getattr(properties, "message_id", None)
    try:
        envelope = Envelope.from_json(body)
        if not envelope.tenant_id:
            raise ValueError("envelope without tenant_id")
    except (ValidationError, ValueError, UnicodeDecodeError) as exc:
        with bind_context(event_id=message_id, consumer=consumer):
            log.error("event.unparseable", error=str(exc)[:500])
        return Verdict("dead_letter", "dead_lettered", error=exc, reason="unparseable")

    event_type, event_id = envelope.event_type, str(envelope.event_id)
    with tenant_context(envelope.tenant_id), handling(event_id), bind_context(
            event_id=event_id, event_type=event_type, tenant_id=envelope.tenant_id,
            correlation_id=envelope.correlation_id, causation_id=envelope.causation_id, consumer=consumer):
        registrations = handlers_for(consumer, event_type)
        if not registrations and event_type in retired_for(consumer):
            log.info("event.retired")     # delivered before the type was unbound (common.bus.handlers.retire)
            return Verdict("ack", "retired", event_type)
        if not registrations:
            log.error("event.no_handler")
            return Verdict("dead_letter", "dead_lettered", event_type,
                           error=f"{consumer} has no handler for {event_type}", reason="no_handler")
        try:
            payload = payload_model(event_type).model_validate(envelope.payload)
        except ValidationError as exc:
            log.error("event.invalid_payload", error=str(exc)[:500])
            return Verdict("dead_letter", "dead_lettered", event_type, error=exc, reason="invalid_payload")

        started = time.monotonic()
        try:
            with transaction.atomic(savepoint=savepoint):
                try:
                    InboxMessage.objects.create(consumer=consumer, event_id=envelope.event_id,
                                                event_type=event_type, tenant_id=envelope.tenant_id)
                except IntegrityError as exc:
                    if _is_inbox_conflict(exc):
                        raise _Duplicate from exc
                    raise
                for registration in registrations:
                    registration.handler(envelope, payload)
        except Exception as exc:  # noqa: BLE001 - any handler failure takes the retry path, none is dropped
            if not savepoint:
                # In a batch: the batch is rolled back and this message handled again on its own,
                # where its verdict (duplicate, retry, dead letter) is decided and logged.
                return Verdict("abort", "aborted", event_type, error=exc)
            if isinstance(exc, _Duplicate):
                log.info("event.duplicate")
                return Verdict("ack", "duplicate", event_type)
            attempt = attempt_of(properties) + 1
            if attempt >= settings.max_attempts:
                log.error("event.dead_lettered", attempt=attempt, error=repr(exc), exc_info=True)
                return Verdict("dead_letter", "dead_lettered", event_type, attempt, exc, "max_attempts")
            log.warning("event.retry_scheduled", attempt=attempt, error=repr(exc),
                        delay_ms=settings.retry_delay_ms(attempt), exc_info=True)
            return Verdict("retry", "retried", event_type, attempt, exc)
        log.info("event.handled", ms=round((time.monotonic() - started) * 1000, 1))
        return Verdict("ack", "handled", event_type)


class Consumer:
    def __init__(self, service: str, *, prefetch: int | None = None, settings: BusSettings | None = None,
                 stop: GracefulStop | None = None):
        self.service = service
        self.settings = settings or bus_settings()
        self.prefetch = prefetch or self.settings.prefetch
        self.batch_size = max(1, min(self.settings.consumer_batch, self.prefetch))
        self.stop = stop or GracefulStop()
        self.queues: ServiceQueues | None = None
        self._connection = None
        self._publish_channel = None
        self._backoff = Backoff()
        self.ready = threading.Event()          # set while consuming (health checks, tests)

    def run(self) -> None:
        self.stop.install()
        event_types = event_types_for(self.service)
        if not event_types:
            log.warning("consumer.no_handlers", consumer=self.service,
                        detail="no @handles(..., consumer=...) registered; the queue gets no bindings")
        try:
            while not self.stop.requested:
                try:
                    self._consume(event_types)
                except BROKER_ERRORS as exc:
                    log.warning("consumer.connection_lost", consumer=self.service, error=repr(exc))
                    self._drop()
                    self.stop.sleep(self._backoff.next_delay())
        finally:
            self._drop()
            connection.close()
            log.info("consumer.stopped", consumer=self.service)

    def _consume(self, event_types: list[str]) -> None:
        self._connection = connect(f"consumer-{self.service}", self.settings)
        channel = self._connection.channel()
        self.queues = declare_service(channel, self.service, event_types, self.settings,
                                     retired=retired_for(self.service))
        self._publish_channel = self._connection.channel()
        self._publish_channel.confirm_delivery()
        channel.basic_qos(prefetch_count=self.prefetch)
        log.info("consumer.ready", consumer=self.service, queue=self.queues.main, prefetch=self.prefetch,
                 event_types=event_types)
        self._backoff.reset()
        self.ready.set()
        deliveries = channel.consume(self.queues.main, inactivity_timeout=0.5)
        for method, properties, body in deliveries:
            if method is not None:
                batch = [(method, properties, body)]
                # What the broker already pushed (prefetch) is handled with it, without waiting for more.
                while len(batch) < self.batch_size and channel.get_waiting_message_count() > 0:
                    batch.append(next(deliveries))
                CONSUMER_BATCH.labels(consumer=self.service).observe(len(batch))
                if len(batch) == 1:
                    self._process(channel, method, properties, body)
                else:
                    self._process_batch(channel, batch)
            if self.stop.requested:
                break
        channel.cancel()        # buffered, unprocessed deliveries go back to the queue

    def _process(self, channel, method, properties, body: bytes) -> None:
        close_old_connections()
        verdict = handle_delivery(self.service, body, properties, self.settings)
        self._settle(channel, method, properties, body, verdict)

    def _process_batch(self, channel, batch: list[tuple]) -> None:
        close_old_connections()
        try:
            with transaction.atomic():
                verdicts = []
                for _method, properties, body in batch:
                    verdicts.append(handle_delivery(self.service, body, properties, self.settings, savepoint=False))
                    if verdicts[-1].action == "abort" or connection.needs_rollback:
                        # A handler failed or the event was a duplicate: without savepoints (two statements
                        # per event saved) the batch cannot keep the others (Django would roll it all back
                        # on exit without raising): redo the batch one message at a time.
                        raise _BatchAborted(repr(verdicts[-1].error))
        except Exception as exc:  # noqa: BLE001 - nothing of the batch was kept (rolled back or not committed)
            log.info("consumer.batch_redone", consumer=self.service, size=len(batch), error=repr(exc)[:300])
            for method, properties, body in batch:
                self._process(channel, method, properties, body)
            return
        for (method, properties, body), verdict in zip(batch, verdicts, strict=True):
            self._settle(channel, method, properties, body, verdict)

    def _settle(self, channel, method, properties, body: bytes, verdict: Verdict) -> None:
        """After the commit: the retry or dead-letter copy (confirmed), then the ack."""
        if verdict.action == "retry":
            self._publish_channel.basic_publish(
                exchange="", routing_key=self.queues.retry_queue_after(verdict.attempt), body=body,
                properties=republished(properties, **failure_headers(
                    consumer=self.service, attempt=verdict.attempt, error=verdict.error)),
                mandatory=True)
        elif verdict.action == "dead_letter":
            self._publish_channel.basic_publish(
                exchange=dead_letter_exchange(self.settings), routing_key=self.queues.dlq, body=body,
                properties=republished(properties, **failure_headers(
                    consumer=self.service, attempt=verdict.attempt, error=verdict.error, reason=verdict.reason)),
                mandatory=True)
        # The copy is confirmed (or this raised and the original will be redelivered): now ack.
        channel.basic_ack(method.delivery_tag)
        CONSUMED.labels(consumer=self.service, event_type=verdict.event_type, outcome=verdict.outcome).inc()
        if isinstance(verdict.error, OperationalError | InterfaceError):
            self._wait_for_database()

    def _wait_for_database(self) -> None:
        """The database went away under a handler: take no new message until it answers again, so a
        database outage does not burn every message's attempts."""
        backoff = Backoff()
        while not self.stop.requested:
            try:
                connection.close()
                connection.ensure_connection()
                return
            except (OperationalError, InterfaceError) as exc:
                log.warning("consumer.database_unavailable", consumer=self.service, error=str(exc)[:300])
                self._connection.sleep(backoff.next_delay())     # keeps AMQP heartbeats going

    def _drop(self) -> None:
        self.ready.clear()
        close_quietly(self._connection)
        self._connection = self._publish_channel = None
