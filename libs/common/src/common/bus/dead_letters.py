"""Inspecting and replaying a service's dead-letter queue (``manage.py dead_letters``)."""

from __future__ import annotations

import json
from typing import Any

from common.bus.amqp import close_quietly, connect
from common.bus.config import BusSettings, bus_settings
from common.bus.handlers import event_types_for
from common.bus.topology import declare_service
from common.bus.wire import (
    ATTEMPT_HEADER,
    CONSUMER_HEADER,
    ERROR_HEADER,
    FAILED_AT_HEADER,
    REASON_HEADER,
    REPLAYED_HEADER,
    cleared_failure_headers,
    republished,
)
from common.tasks import TENANT_HEADER


def _describe(properties, body: bytes) -> dict[str, Any]:
    headers = properties.headers or {}
    try:
        envelope = json.loads(body)
        event_type = envelope.get("event_type") if isinstance(envelope, dict) else None
    except ValueError:
        envelope, event_type = None, None
    return {
        "event_id": properties.message_id,
        "event_type": event_type or properties.type,
        "tenant_id": headers.get(TENANT_HEADER),
        "correlation_id": properties.correlation_id,
        # the broker's own delivery limit dead-letters without our headers; x-first-death-reason says so
        "reason": headers.get(REASON_HEADER) or headers.get("x-first-death-reason"),
        "attempts": headers.get(ATTEMPT_HEADER),
        "error": headers.get(ERROR_HEADER),
        "consumer": headers.get(CONSUMER_HEADER),
        "failed_at": headers.get(FAILED_AT_HEADER),
        "replayed": headers.get(REPLAYED_HEADER, 0),
        "body": envelope if envelope is not None else body[:500].decode("utf-8", "replace"),
    }


def list_dead_letters(service: str, *, limit: int = 100, settings: BusSettings | None = None
                      ) -> list[dict[str, Any]]:
    """Up to ``limit`` dead letters, oldest first. They stay in the DLQ (fetched unacked, then the
    channel is closed, which returns them)."""
    settings = settings or bus_settings()
    conn = connect(f"dead-letters-{service}", settings)
    try:
        channel = conn.channel()
        queues = declare_service(channel, service, event_types_for(service), settings)
        found = []
        while len(found) < limit:
            method, properties, body = channel.basic_get(queues.dlq, auto_ack=False)
            if method is None:
                break
            found.append(_describe(properties, body))
        return found
    finally:
        close_quietly(conn)


def replay_dead_letters(service: str, *, limit: int | None = None, settings: BusSettings | None = None
                        ) -> list[dict[str, Any]]:
    """Move up to ``limit`` dead letters (default: all there are now) back to the service's main
    queue with a fresh attempt count. Each copy is confirmed before the dead letter is acked, so a
    crash in between duplicates a message (the inbox absorbs it) and never loses one."""
    settings = settings or bus_settings()
    conn = connect(f"dead-letters-{service}", settings)
    try:
        channel = conn.channel()
        queues = declare_service(channel, service, event_types_for(service), settings)
        # Only what is there now: a replayed message that fails at once must not make this loop.
        waiting = channel.queue_declare(queues.dlq, passive=True).method.message_count
        budget = waiting if limit is None else min(limit, waiting)
        publisher = conn.channel()
        publisher.confirm_delivery()
        replayed = []
        for _ in range(budget):
            method, properties, body = channel.basic_get(queues.dlq, auto_ack=False)
            if method is None:
                break
            times = int((properties.headers or {}).get(REPLAYED_HEADER, 0)) + 1
            publisher.basic_publish(exchange="", routing_key=queues.main, body=body, mandatory=True,
                                    properties=republished(properties, **cleared_failure_headers(),
                                                           **{REPLAYED_HEADER: times}))
            channel.basic_ack(method.delivery_tag)
            replayed.append(_describe(properties, body))
        return replayed
    finally:
        close_quietly(conn)
