"""The event being handled, so that what a handler writes to the outbox names it as its cause."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

_handling: contextvars.ContextVar[str | None] = contextvars.ContextVar("lendsimple_handling_event", default=None)


def handling_event_id() -> str | None:
    return _handling.get()


@contextlib.contextmanager
def handling(event_id: str) -> Iterator[None]:
    token = _handling.set(event_id)
    try:
        yield
    finally:
        _handling.reset(token)
