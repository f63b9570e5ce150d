"""Atomic writes from async code (ARCHITECTURE.md §2).

``with transaction.atomic():`` written inside ``async def`` is not a transaction: Django raises
``SynchronousOnlyOperation``, and if that is silenced the awaited ORM calls run on other threads and
other connections, outside the block. The rule is: the atomic part of a write is one sync function
that opens the transaction, takes its row locks and writes its outbox rows; async code awaits it
through exactly one ``sync_to_async`` call. ``run_atomic`` is that call.

    loan = await run_atomic(loan_approve_tx, loan_id=loan_id, approver=user)

Each call runs on a worker thread of its own (``thread_sensitive=False``), so concurrent requests
really run concurrently and serialize only on the row locks they take, which is what the
"no lost update" test exercises.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.db import close_old_connections, connections, transaction

P = ParamSpec("P")
R = TypeVar("R")


def release_connection(using: str | None = None) -> None:
    """After a call on an executor thread: hand the connection back.

    With Django's psycopg pool configured, closing returns it to the pool (a thread that kept it would
    starve the pool); without one, the thread keeps its connection for the next call (``CONN_MAX_AGE``)
    unless it is broken."""
    conn = connections[using or "default"]
    if conn.connection is None:
        return
    if conn.settings_dict.get("OPTIONS", {}).get("pool") or conn.errors_occurred or conn.needs_rollback:
        conn.close()


def _atomic_call(fn: Callable[P, R], using: str | None, *args: P.args, **kwargs: P.kwargs) -> R:
    close_old_connections()
    try:
        with transaction.atomic(using=using):
            return fn(*args, **kwargs)
    finally:
        # Executor threads outlive the call: never leave a broken, idle-in-transaction or
        # pool-owned connection behind on this thread.
        release_connection(using)


def _plain_call(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    close_old_connections()
    try:
        return fn(*args, **kwargs)
    finally:
        release_connection()


async def run_sync(fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """Run a sync (non-atomic) ORM function on an executor thread, handing its connection back after."""
    return await sync_to_async(functools.partial(_plain_call, fn), thread_sensitive=False)(*args, **kwargs)


async def run_atomic(fn: Callable[P, R], /, *args: P.args, using: str | None = None, **kwargs: P.kwargs) -> R:
    """Run the sync function ``fn`` inside ``transaction.atomic()`` through one ``sync_to_async`` hop."""
    call = functools.partial(_atomic_call, fn, using)
    return await sync_to_async(call, thread_sensitive=False)(*args, **kwargs)


def atomic_service(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorator form: ``await loan_approve(...)`` runs the decorated sync body atomically."""

    @functools.wraps(fn)
    async def wrapper(*args, **kwargs):
        return await run_atomic(fn, *args, **kwargs)

    wrapper.sync = fn  # the sync body, for callers that already hold a transaction
    return wrapper
