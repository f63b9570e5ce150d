"""Prometheus metrics shared by every process. Under gunicorn set PROMETHEUS_MULTIPROC_DIR so that
``/metrics`` aggregates every worker (``make run`` does)."""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUESTS = Counter("lendsimple_http_requests_total", "HTTP requests", ["method", "route", "status"])
REQUEST_LATENCY = Histogram("lendsimple_http_request_seconds", "HTTP request latency", ["method", "route"],
                            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
OUTBOX_BACKLOG = Gauge("lendsimple_outbox_backlog", "Unsent outbox rows", multiprocess_mode="max")
OUTBOX_OLDEST_AGE = Gauge("lendsimple_outbox_oldest_unsent_seconds", "Age of the oldest unsent outbox row",
                          multiprocess_mode="max")
OUTBOX_PUBLISHED = Counter("lendsimple_outbox_published_total", "Outbox rows confirmed by the broker", ["kind"])
OUTBOX_FAILED = Counter("lendsimple_outbox_publish_failed_total", "Outbox publish attempts that failed", ["kind"])
CONSUMED = Counter("lendsimple_events_consumed_total", "Events handled", ["consumer", "event_type", "outcome"])
CONSUMER_BATCH = Histogram("lendsimple_consumer_batch_size", "Events handled in one consumer transaction", ["consumer"],
                           buckets=(1, 2, 5, 10, 20, 50, 100))
TASK_SECONDS = Histogram("lendsimple_task_seconds", "Celery task duration", ["task"],
                         buckets=(0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120))


def render() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
