"""Fixtures every suite loads (``pytest_plugins = ["common.pytest_plugin"]`` in its conftest)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's test database, plus: at the end, end the sessions that executor threads
    (``run_atomic``, ``sync_to_async(thread_sensitive=False)``) still hold, so it can be dropped."""
    yield
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")


@pytest.fixture
async def asgi_client():
    """An httpx client bound to this service's ASGI application (in-process, real middleware).

    Afterwards the test's event loop closes its ``common.adb`` pool: pytest-asyncio closes the loop after
    the test, and a pool left open there has background tasks (a connection attempt, say) that the loop's
    final task cancellation can wait on forever (seen: a loans test's teardown hung for 300 s)."""
    import httpx

    from common import adb
    from common.asgi import get_asgi_application

    yield httpx.AsyncClient(transport=httpx.ASGITransport(app=get_asgi_application()), base_url="http://testserver")
    await adb.close_pools()
