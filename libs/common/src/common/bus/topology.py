"""Exchanges and queues of the event bus, declared idempotently by every relay, consumer and by
``manage.py declare_topology``.

    lendsimple.events (topic, durable)  --routing key = event type-->  <service>.events (quorum)
    <service>.events  --handler failed, attempt n-->  <service>.events.retry.<delay> (quorum, message TTL)
    <service>.events.retry.<delay>  --TTL expired, dead-lettered through the default exchange-->  <service>.events
    <service>.events  --attempts exhausted / unparseable (consumer) or broker delivery limit-->
        lendsimple.dlx (direct)  --routing key = DLQ name-->  <service>.events.dlq (quorum)

    ledger (Celery command queue, quorum)  --command rejected for good, default exchange-->  ledger.dlq (quorum)

Queue arguments are fixed when a queue is created: changing the retry delays creates new retry
queues (the old ones drain and can be deleted); changing the delivery limit of an existing main
queue needs a policy or a new queue. Every name gets the ``LENDSIMPLE_BUS_NAMESPACE`` prefix if set.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pika.exceptions

from common.bus.config import BusSettings, bus_settings

EVENTS_EXCHANGE = "lendsimple.events"
DEAD_LETTER_EXCHANGE = "lendsimple.dlx"

# Dead-lettering from a quorum queue is at-most-once unless the queue asks for at-least-once,
# which in turn requires reject-publish overflow. Both are cheap and keep a retry from vanishing.
_QUORUM = {"x-queue-type": "quorum"}
_AT_LEAST_ONCE = {"x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"}


def _delay_label(ms: int) -> str:
    if ms % 60_000 == 0:
        return f"{ms // 60_000}m"
    if ms % 1000 == 0:
        return f"{ms // 1000}s"
    return f"{ms}ms"


def events_exchange(settings: BusSettings | None = None) -> str:
    return (settings or bus_settings()).name(EVENTS_EXCHANGE)


def dead_letter_exchange(settings: BusSettings | None = None) -> str:
    return (settings or bus_settings()).name(DEAD_LETTER_EXCHANGE)


@dataclass(frozen=True)
class ServiceQueues:
    """The queue names of one consuming service."""

    service: str
    main: str
    dlq: str
    settings: BusSettings

    def retry_queue(self, delay_ms: int) -> str:
        return f"{self.main}.retry.{_delay_label(delay_ms)}"

    def retry_queue_after(self, failures: int) -> str:
        return self.retry_queue(self.settings.retry_delay_ms(failures))

    @property
    def retry_queues(self) -> dict[str, int]:
        return {self.retry_queue(ms): ms for ms in dict.fromkeys(self.settings.retry_delays_ms)}


def service_queues(service: str, settings: BusSettings | None = None) -> ServiceQueues:
    if not service or any(c in service for c in " #*"):
        raise ValueError(f"invalid service name {service!r}")
    settings = settings or bus_settings()
    main = settings.name(f"{service}.events")
    return ServiceQueues(service=service, main=main, dlq=f"{main}.dlq", settings=settings)


def declare_exchanges(channel, settings: BusSettings | None = None) -> None:
    """The exchanges every relay needs (a relay does not know who consumes what)."""
    settings = settings or bus_settings()
    channel.exchange_declare(events_exchange(settings), exchange_type="topic", durable=True)
    channel.exchange_declare(dead_letter_exchange(settings), exchange_type="direct", durable=True)


def declare_service(channel, service: str, event_types: Iterable[str], settings: BusSettings | None = None,
                    *, retired: Iterable[str] = ()) -> ServiceQueues:
    """Main queue bound to ``event_types``, its retry tiers and its DLQ; the ``retired`` types (ones the
    service stopped handling, ``common.bus.handlers.retire``) unbound. Any other binding is only ever added:
    a type dropped without ``retire`` must be unbound by hand (see docs/events.md)."""
    settings = settings or bus_settings()
    declare_exchanges(channel, settings)
    queues = service_queues(service, settings)
    dlx = dead_letter_exchange(settings)
    channel.queue_declare(queues.dlq, durable=True, arguments=dict(_QUORUM))
    channel.queue_bind(queues.dlq, dlx, routing_key=queues.dlq)
    channel.queue_declare(queues.main, durable=True, arguments={
        **_QUORUM, **_AT_LEAST_ONCE,
        "x-dead-letter-exchange": dlx,
        "x-dead-letter-routing-key": queues.dlq,
        # A message that kills the consumer process never reaches the handler's failure path; the
        # broker's redelivery count bounds that loop too.
        "x-delivery-limit": settings.delivery_limit,
    })
    for retry_queue, delay_ms in queues.retry_queues.items():
        channel.queue_declare(retry_queue, durable=True, arguments={
            **_QUORUM, **_AT_LEAST_ONCE,
            "x-message-ttl": delay_ms,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": queues.main,
        })
    exchange = events_exchange(settings)
    wanted = set(event_types)
    for event_type in sorted(wanted):
        channel.queue_bind(queues.main, exchange, routing_key=event_type)
    for event_type in sorted(set(retired) - wanted):
        channel.queue_unbind(queues.main, exchange, routing_key=event_type)    # no such binding: a no-op
    return queues


def declare_topology(channel, subscriptions: Mapping[str, Iterable[str]], settings: BusSettings | None = None
                     ) -> dict[str, ServiceQueues]:
    settings = settings or bus_settings()
    declare_exchanges(channel, settings)
    return {service: declare_service(channel, service, types, settings) for service, types in subscriptions.items()}


def command_exchange(queue: str) -> str:
    """The topic exchange a Celery command queue is bound through (``common.celery_app``: native delayed delivery
    of countdown retries needs one; Celery publishes the queue's commands to it)."""
    return f"{queue}.commands"


def command_dlq(queue: str) -> str:
    return f"{queue}.dlq"


# Deliveries of one command before the broker dead-letters it: a command that kills the worker process (it never
# reaches the task's failure path, and with late acks it is redelivered to the next worker) must not loop for ever.
# A constant, not a setting: every process declaring the queue must declare the same arguments.
COMMAND_DELIVERY_LIMIT = 20


def command_queue_arguments(queue: str) -> dict:
    """A Celery command queue (``ledger``), as every Celery app declares it (``common.celery_app``): a
    command rejected for good — ``Reject(requeue=False)``: retries exhausted, a command that can never apply,
    a message without a tenant — is dead-lettered to ``<queue>.dlq`` (through the default exchange, so the
    arguments do not depend on the bus namespace: every app declaring the queue declares the same), not
    dropped."""
    return {**_QUORUM, **_AT_LEAST_ONCE, "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": command_dlq(queue), "x-delivery-limit": COMMAND_DELIVERY_LIMIT}


def declare_command_queue(channel, queue: str) -> None:
    """The command queue's DLQ, then the queue. The DLQ must exist before a command is rejected: dead-lettered
    to a queue that does not exist, it would be dropped."""
    channel.queue_declare(command_dlq(queue), durable=True, arguments=dict(_QUORUM))
    channel.queue_declare(queue, durable=True, arguments=command_queue_arguments(queue))


def ensure_command_queue(connection, queue: str) -> None:
    """``declare_command_queue``, upgrading a queue an earlier version declared without a dead-letter target
    (the broker refuses to redeclare it with other arguments: PRECONDITION_FAILED). An empty one is replaced;
    one still holding commands or with a worker attached is left alone, and this raises. Quorum queues cannot
    be deleted "if empty" atomically, so nothing may publish between the check and the delete: only
    ``declare_topology`` upgrades (``make run`` prepares before anything starts; a deployment upgrading from
    that version scales the relays and the worker to zero first, docs/deploy.md); the worker and the
    dead-letter tools only declare (``declare_command_queue``) and fail on a mismatch."""
    try:
        declare_command_queue(connection.channel(), queue)
        return
    except pika.exceptions.ChannelClosedByBroker as exc:
        if exc.reply_code != 406:
            raise
    channel = connection.channel()
    state = channel.queue_declare(queue, passive=True).method
    if state.message_count or state.consumer_count:
        # consumer_count too: a running worker holds prefetched and countdown-retry commands unacknowledged,
        # which message_count does not show and a delete would discard
        raise RuntimeError(f"queue {queue} was declared with other arguments by an earlier version and holds "
                           f"{state.message_count} command(s) with {state.consumer_count} worker(s) attached: "
                           "stop the relays, let the old worker drain it and stop it, then declare again")
    channel.queue_delete(queue)
    declare_command_queue(channel, queue)
