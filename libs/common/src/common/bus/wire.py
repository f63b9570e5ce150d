"""What an event looks like on the wire: AMQP properties and the headers the bus adds."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pika

from common.tasks import CORRELATION_HEADER, TENANT_HEADER

CONTENT_TYPE = "application/json"
PERSISTENT = 2
EVENT_TYPE_HEADER = "x-lendsimple-event-type"
ATTEMPT_HEADER = "x-lendsimple-attempt"            # failed handler attempts so far
ERROR_HEADER = "x-lendsimple-error"                # last error, "Type: message" (truncated)
ERROR_TYPE_HEADER = "x-lendsimple-error-type"
REASON_HEADER = "x-lendsimple-dead-letter-reason"  # max_attempts | unparseable | invalid_payload | no_handler
CONSUMER_HEADER = "x-lendsimple-consumer"
FAILED_AT_HEADER = "x-lendsimple-failed-at"
REPLAYED_HEADER = "x-lendsimple-replayed"          # how many times dead_letters replay sent it back

# Added by the broker while a message travels through TTL queues and dead-letter exchanges; dropped
# when the bus re-publishes a message so that every hop starts from the bus's own headers.
_BROKER_HEADERS = ("x-death", "x-first-death-exchange", "x-first-death-queue", "x-first-death-reason",
                   "x-last-death-exchange", "x-last-death-queue", "x-last-death-reason", "x-delivery-count")
_FAILURE_HEADERS = (ERROR_HEADER, ERROR_TYPE_HEADER, REASON_HEADER, CONSUMER_HEADER, FAILED_AT_HEADER)
MAX_ERROR_CHARS = 2000


def event_properties(*, event_id: str, event_type: str, tenant_id: str, correlation_id: str | None,
                     occurred_at: datetime | None = None) -> pika.BasicProperties:
    headers = {TENANT_HEADER: tenant_id, EVENT_TYPE_HEADER: event_type}
    if correlation_id:
        headers[CORRELATION_HEADER] = correlation_id
    return pika.BasicProperties(
        content_type=CONTENT_TYPE, delivery_mode=PERSISTENT, message_id=event_id,
        type=event_type, correlation_id=correlation_id or None,
        timestamp=int((occurred_at or datetime.now(UTC)).timestamp()), headers=headers)


def encode_body(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def attempt_of(properties: pika.BasicProperties) -> int:
    try:
        return int((properties.headers or {}).get(ATTEMPT_HEADER, 0))
    except (TypeError, ValueError):
        return 0


def republished(properties: pika.BasicProperties, **headers: Any) -> pika.BasicProperties:
    """A copy of ``properties`` for re-publishing: broker bookkeeping dropped, ``headers`` applied
    (``None`` removes a header)."""
    merged = {k: v for k, v in (properties.headers or {}).items() if k not in _BROKER_HEADERS}
    for key, value in headers.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return pika.BasicProperties(
        content_type=properties.content_type, content_encoding=properties.content_encoding,
        delivery_mode=PERSISTENT, message_id=properties.message_id, type=properties.type,
        correlation_id=properties.correlation_id, timestamp=properties.timestamp, app_id=properties.app_id,
        headers=merged)


def failure_headers(*, consumer: str, attempt: int, error: BaseException | str, reason: str | None = None
                    ) -> dict[str, Any]:
    if isinstance(error, BaseException):
        error_type, text = type(error).__name__, f"{type(error).__name__}: {error}"
    else:
        error_type, text = "Error", str(error)
    headers = {ATTEMPT_HEADER: attempt, ERROR_HEADER: text[:MAX_ERROR_CHARS], ERROR_TYPE_HEADER: error_type,
               CONSUMER_HEADER: consumer, FAILED_AT_HEADER: datetime.now(UTC).isoformat()}
    if reason:
        headers[REASON_HEADER] = reason
    return headers


def cleared_failure_headers() -> dict[str, None]:
    return {name: None for name in (*_FAILURE_HEADERS, ATTEMPT_HEADER)}
