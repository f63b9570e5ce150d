"""Celery apps of LendSimple processes: RabbitMQ broker, JSON only, late acks, no result backend."""

from __future__ import annotations

from celery import Celery
from kombu import Queue

from common.bus.topology import command_queue_arguments
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
        task_queues=[Queue(default_queue, durable=True, queue_arguments=command_queue_arguments(default_queue))],
        task_default_delivery_mode="persistent",
        broker_connection_retry_on_startup=True,
        broker_heartbeat=30,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        enable_utc=True,
        timezone="UTC",
    )
    return app
