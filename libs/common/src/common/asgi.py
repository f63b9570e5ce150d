"""The services' ASGI application: Django's handler with request threads reused, its heap settled.

    application = common.asgi.get_asgi_application()      # in <service>_service/asgi.py

Django runs every request in a ``ThreadSensitiveContext`` of its own: the request's thread-sensitive
sync work (async ORM calls, and Django's own ``response.close()`` hop, which sends ``request_finished``
and so hands the request's database connections back) runs on one thread of its own. As Django ships
it, that thread is started for the request and joined after it — measured with py-spy as the largest
single cost of ``GET /loans/{id}``, and a thread start per payment request. ``ReusingASGIHandler`` keeps
the semantics and reuses the threads: each request borrows an idle single-thread executor (asgiref's
``ThreadSensitiveContext(executor=...)``, whose executor the caller owns and which is not shut down on
exit) and gives it back when the response is closed — as a WSGI server reuses its worker threads.
Concurrent requests still never share a thread; ``request_finished`` still runs on the request's thread.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import django
from asgiref.sync import ThreadSensitiveContext
from django.core.handlers.asgi import ASGIHandler


class ReusingASGIHandler(ASGIHandler):
    """Django's ASGIHandler, each request on a reused single-thread executor instead of a new thread."""

    def __init__(self):
        super().__init__()
        self._idle: list[ThreadPoolExecutor] = []

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        executor = self._idle.pop() if self._idle else ThreadPoolExecutor(max_workers=1,
                                                                           thread_name_prefix="request")
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            # Work a cancelled request left running on it finishes before the next request's, in order.
            self._idle.append(executor)


def get_asgi_application() -> ASGIHandler:
    django.setup(set_prefix=False)
    handler = ReusingASGIHandler()
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
