"""Celery apps of LendSimple processes: RabbitMQ broker, JSON only, late acks, no result backend."""

from __future__ import annotations

from celery import Celery
from celery.signals import task_postrun, task_prerun
from kombu import Exchange, Queue

from common.bus.topology import command_exchange, command_queue_arguments
from common.commands import LEDGER_QUEUE
from common.conf import broker_url


def make_celery(name: str, *, default_queue: str = LEDGER_QUEUE) -> Celery:
    app = Celery(name, broker=broker_url())
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        result_backend=None,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=4,
        task_default_queue=default_queue,
        # quorum, dead-lettered to <queue>.dlq (common.bus.topology.declare_command_queue declares the DLQ):
        # every app that publishes or consumes the queue declares it with these same arguments
        # Bound through a topic exchange of its own: a countdown retry then waits in the broker (native delayed
        # delivery, Celery's celery_delayed_* exchanges and queues) instead of unacknowledged in the worker — on a
        # quorum queue Celery cannot raise the prefetch for such messages, so held retries filled every slot and
        # stalled every other command. (The queue's default direct binding, of earlier versions, stays unused.)
        task_queues=[Queue(default_queue, Exchange(command_exchange(default_queue), type="topic"),
                           routing_key=default_queue, durable=True,
                           queue_arguments=command_queue_arguments(default_queue))],
        task_default_delivery_mode="persistent",
        broker_connection_retry_on_startup=True,
        broker_heartbeat=30,
        # a publish (a task's retry, the beat's schedule) waits for the broker's confirm: a retry's copy is
        # published before the original is acknowledged, and an unconfirmed copy could be lost with it
        broker_transport_options={"confirm_publish": True},
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        enable_utc=True,
        timezone="UTC",
        # Celery's Django fixup closes every database connection before and after every task unless this is
        # set, whatever CONN_MAX_AGE says: each task opened a new PostgreSQL connection (~10 % of the ledger
        # worker's CPU per payment under load, py-spy, plus a new backend with a cold catalogue cache in
        # PostgreSQL). With it the fixup closes them only every N tasks (it counts prerun and postrun); ``_connection_hygiene`` below does
        # what Django does around a request instead (CONN_MAX_AGE, health checks, a connection left broken).
        CELERY_DB_REUSE_MAX=100_000,
    )
    return app


def declare_command_queue_or_exit(queue: str, *, wait_s: float = 60.0) -> None:
    """For a worker's ``worker_init``: declare ``queue`` and its DLQ (``common.bus.topology``), waiting up to
    ``wait_s`` for the broker. A queue of an earlier version (other arguments) is not replaced here — only
    ``manage.py declare_topology`` upgrades it. Either failure stops the worker (``SystemExit`` passes through
    Celery's signal dispatch, an ``Exception`` would be logged and ignored): it must not consume without a DLQ."""
    import time

    import pika.exceptions
    import structlog

    from common.bus.amqp import Backoff, close_quietly, connect
    from common.bus.topology import declare_command_queue

    log = structlog.get_logger(__name__)
    backoff, deadline = Backoff(maximum=5.0), time.monotonic() + wait_s
    while True:
        try:
            conn = connect("worker-topology")
        except pika.exceptions.AMQPConnectionError as exc:
            if time.monotonic() > deadline:
                log.error("worker.broker_unavailable_giving_up", error=repr(exc))
                raise SystemExit(1) from exc
            log.warning("worker.broker_unavailable", error=repr(exc))
            time.sleep(backoff.next_delay())
            continue
        try:
            declare_command_queue(conn.channel(), queue)
            return
        except pika.exceptions.ChannelClosedByBroker as exc:
            log.error("worker.command_queue_mismatch", queue=queue, error=repr(exc),
                      hint="run manage.py declare_topology (it upgrades the queue once drained)")
            raise SystemExit(1) from exc
        finally:
            close_quietly(conn)


@task_prerun.connect
@task_postrun.connect
def _connection_hygiene(task=None, **kwargs) -> None:
    """Django's per-request connection rule around each task (``close_old_connections``): keep a worker
    thread's connection for CONN_MAX_AGE, health-check it before reuse, drop one an error left unusable. Not
    for eager runs (a test's transaction would be closed under it), as the fixup skips them too."""
    if task is None or getattr(task.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()
