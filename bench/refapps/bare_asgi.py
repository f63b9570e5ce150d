"""The floor for GET /loans/{id}: a bare ASGI app reading the same row with an async psycopg pool.

No framework, no auth, no permission check: one pooled query and one JSON encode per request.
    LENDSIMPLE_DB_NAME=... gunicorn bare_asgi:app -k uvicorn.workers.UvicornWorker
"""

from __future__ import annotations

import json
import os

from psycopg_pool import AsyncConnectionPool

SQL = """SELECT l.id::text, l.status, l.principal::text, l.currency, l.term, l.annual_rate::text,
                l.balance_principal::text, l.balance_interest::text, l.balance_fees::text, p.rounding_places
           FROM loans_loan l JOIN loans_product p ON p.id = l.product_id WHERE l.id = %s"""
KEYS = ("id", "status", "principal", "currency", "term", "annual_rate", "balance_principal", "balance_interest",
        "balance_fees", "places")
pool: AsyncConnectionPool | None = None


async def app(scope, receive, send):
    global pool
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                pool = AsyncConnectionPool(f"host=127.0.0.1 user=postgres dbname={os.environ['LENDSIMPLE_DB_NAME']}",
                                           min_size=4, max_size=8, open=False, kwargs={"autocommit": True})
                await pool.open()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    loan_id = scope["path"].rstrip("/").rsplit("/", 1)[-1]
    async with pool.connection() as conn:
        row = await (await conn.execute(SQL, [loan_id])).fetchone()
    status, body = (200, json.dumps(dict(zip(KEYS, row, strict=True))).encode()) if row else (404, b"{}")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})
