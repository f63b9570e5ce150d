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
def asgi_client():
    """An httpx client bound to this service's ASGI application (in-process, real middleware)."""
    import httpx

    from common.asgi import get_asgi_application

    return httpx.AsyncClient(transport=httpx.ASGITransport(app=get_asgi_application()), base_url="http://testserver")
