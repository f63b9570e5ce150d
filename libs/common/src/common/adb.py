"""Async-native reads: a psycopg ``AsyncConnectionPool`` per event loop, for the hot read endpoints.

Django's async ORM runs every query through ``sync_to_async``: a thread hop per query, and (without a pool)
a connection per executor thread. For a read that is one indexed lookup, the hop and the connection cost
more than the query; the API reads benchmark (bench/api_reads_bench.py) shows it. Reads that matter
(``GET /loans/{id}``) use this module instead: the query runs on the event loop, on a pooled connection.

Rules, because this path bypasses the ORM's tenant-scoped managers:
- only reads: pooled connections are read-only (``default_transaction_read_only``) and in autocommit;
- every statement names the tenant: ``fetch_one``/``fetch_all`` refuse SQL without ``%(tenant)s`` and fill
  it from ``common.tenancy.require_tenant()`` (no tenant set → ``TenantNotSet``, as the managers do).

Writes stay on the ORM inside ``common.db.run_atomic`` (ARCHITECTURE.md §2).

Settings: the service's ``DATABASES["default"]``; ``LENDSIMPLE_ADB_POOL_MAX`` (default 8) connections per
process at most, ``LENDSIMPLE_ADB_POOL_TIMEOUT`` (default 5 s) to wait for one (then
``psycopg_pool.PoolTimeout``, answered 503 by ``common.errors``).
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from common.conf import env, env_int
from common.tenancy import require_tenant

_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncConnectionPool] = weakref.WeakKeyDictionary()


def _conninfo() -> str:
    """The connection Django's settings describe (incl. OPTIONS such as connect_timeout), in Django's time
    zone, as a libpq string (Django's own cursor class and adapters stay with Django's connections)."""
    from django.db import connections

    connection = connections["default"]
    params = connection.get_connection_params()
    for django_only in ("cursor_factory", "context", "prepare_threshold"):
        params.pop(django_only, None)
    params |= {"application_name": "lendsimple-adb", "options": f"-c TimeZone={connection.timezone_name}"}
    return make_conninfo(**{k: v for k, v in params.items() if v is not None})


async def _configure(conn) -> None:
    await conn.set_autocommit(True)
    await conn.execute("SET default_transaction_read_only = on")


async def pool() -> AsyncConnectionPool:
    """This event loop's pool (opened on first use)."""
    loop = asyncio.get_running_loop()
    existing = _pools.get(loop)
    if existing is not None:
        return existing
    # min_size 0: connections are opened on demand and closed after max_idle, so the pool runs no
    # background (re)connection attempts while the database is away or while nothing reads.
    created = AsyncConnectionPool(_conninfo(), min_size=0, max_size=max(1, env_int("LENDSIMPLE_ADB_POOL_MAX", 8)),
                                  timeout=float(env("LENDSIMPLE_ADB_POOL_TIMEOUT", "5")), max_idle=60,
                                  configure=_configure, kwargs={"row_factory": dict_row}, open=False,
                                  name="lendsimple-adb")
    _pools[loop] = created
    await created.open()
    return created


def _params(sql: str, params: dict[str, Any] | None) -> dict[str, Any]:
    if "%(tenant)s" not in sql:
        raise ValueError("an async-native read must be scoped to the tenant: use %(tenant)s in its SQL")
    return {**(params or {}), "tenant": require_tenant()}


async def fetch_one(sql: str, params: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The first row of a tenant-scoped read, as a dict (None when there is none)."""
    bound = _params(sql, params)
    async with (await pool()).connection() as conn:
        cursor = await conn.execute(sql, bound, prepare=True)
        return await cursor.fetchone()


async def fetch_all(sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    bound = _params(sql, params)
    async with (await pool()).connection() as conn:
        cursor = await conn.execute(sql, bound, prepare=True)
        return await cursor.fetchall()


async def close_pools() -> None:
    """Close this event loop's pool (tests; a server's pools close with the process)."""
    loop = asyncio.get_running_loop()
    existing = _pools.pop(loop, None)
    if existing is not None:
        await existing.close()
