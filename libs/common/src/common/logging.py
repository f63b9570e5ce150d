"""Structured JSON logs (structlog) with tenant, correlation, request and event ids on every line."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import uuid
from collections.abc import Iterator

import structlog
from structlog.contextvars import bind_contextvars, get_contextvars, reset_contextvars

from common.tenancy import get_current_tenant


def _add_tenant(_, __, event_dict):
    event_dict.setdefault("tenant_id", get_current_tenant())
    return event_dict


def configure_logging(service: str, level: str | None = None) -> None:
    level = (level or os.environ.get("LOG_LEVEL", "INFO")).upper()
    json_logs = os.environ.get("LOG_FORMAT", "json") == "json"
    shared = [
        structlog.contextvars.merge_contextvars,
        _add_tenant,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]
    renderer = structlog.processors.JSONRenderer() if json_logs else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[*shared, structlog.processors.EventRenamer("msg"), renderer] if json_logs else [*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
    logging.basicConfig(level=level, stream=sys.stdout, format=f'{{"service": "{service}", "logger": "%(name)s", '
                        '"level": "%(levelname)s", "msg": "%(message)s"}' if json_logs else "%(levelname)s %(name)s %(message)s")


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def get_correlation_id() -> str | None:
    return get_contextvars().get("correlation_id")


@contextlib.contextmanager
def bind_context(**values) -> Iterator[None]:
    """Bind values (tenant_id, correlation_id, event_id, ...) to every log line inside the block."""
    tokens = bind_contextvars(**{k: v for k, v in values.items() if v is not None})
    try:
        yield
    finally:
        reset_contextvars(**tokens)
