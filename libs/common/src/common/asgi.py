"""The services' ASGI application: Django's handler, started with its heap settled.

    application = common.asgi.get_asgi_application()      # in <service>_service/asgi.py

Left as Django ships it, measured and noted in bench/README.md: every request runs in its own
``ThreadSensitiveContext``, so Django's own thread-sensitive ``response.close()`` hop starts (and then
joins) a new thread per request — the largest remaining cost of ``GET /loans/{id}`` in the profile.
Running API requests without that context removed it (+50 % throughput) but made every request's
thread-sensitive ORM call share one thread, and a concurrency test hung once in 300 s under it; not kept.
"""

from __future__ import annotations

import django
from django.core.handlers.asgi import ASGIHandler


def get_asgi_application() -> ASGIHandler:
    django.setup(set_prefix=False)
    handler = ASGIHandler()
    _settle_heap()
    return handler


def _settle_heap() -> None:
    """Load what every request would load, then move it out of the garbage collector's sight.

    A service process holds a few hundred thousand long-lived objects (Django, pydantic schemas, the URL
    tree); every full collection walks all of them — tens of milliseconds with the event loop stopped, which
    is what the API reads benchmark's p99 was made of. ``gc.freeze()`` after start-up keeps them out of
    collections (each gunicorn worker loads the application, so each freezes its own start-up heap). The
    collection thresholds stay Python's: raising them left unreachable connection wrappers (reference
    cycles) open for longer.
    """
    import gc

    from django.urls import get_resolver

    _ = get_resolver().url_patterns      # import every urlconf and API (and build the routes) now
    gc.collect()
    gc.freeze()
