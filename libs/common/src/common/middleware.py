"""Request context: a correlation id and request id on every log line and response, and the
Prometheus request metrics. Async-capable, so it adds no thread hop to async views."""

from __future__ import annotations

import re
import time
import uuid

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from structlog.contextvars import bind_contextvars, clear_contextvars

from common.metrics import REQUEST_LATENCY, REQUESTS

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def _incoming_id(request, header: str) -> str | None:
    value = request.headers.get(header)
    return value if value and _SAFE_ID.match(value) else None


def _route(request) -> str:
    match = getattr(request, "resolver_match", None)
    return match.route if match is not None and match.route else "unmatched"


def request_context_middleware(get_response):
    def begin(request):
        clear_contextvars()
        request_id = _incoming_id(request, "X-Request-Id") or uuid.uuid4().hex
        correlation_id = _incoming_id(request, "X-Correlation-Id") or request_id
        from django.conf import settings

        bind_contextvars(service=getattr(settings, "SERVICE_NAME", "?"), request_id=request_id,
                         correlation_id=correlation_id)
        request.request_id, request.correlation_id = request_id, correlation_id
        return time.perf_counter()

    def end(request, response, started):
        response["X-Request-Id"] = request.request_id
        response["X-Correlation-Id"] = request.correlation_id
        route = _route(request)
        REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        REQUEST_LATENCY.labels(request.method, route).observe(time.perf_counter() - started)
        return response

    if iscoroutinefunction(get_response):
        async def middleware(request):
            started = begin(request)
            response = await get_response(request)
            return end(request, response, started)

        markcoroutinefunction(middleware)
    else:
        def middleware(request):
            started = begin(request)
            return end(request, get_response(request), started)

    return middleware


request_context_middleware.sync_capable = True
request_context_middleware.async_capable = True


# The Django admin needs sessions, CSRF, the logged-in user and messages; the JSON API authenticates every
# request with a bearer token and needs none of them. Each of these classic middlewares, in an async
# stack, runs its process_request/process_response through ``sync_to_async(thread_sensitive=True)`` —
# nine thread hops per request. So they wrap only the admin's requests.
ADMIN_MIDDLEWARE = (
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
)
ADMIN_PREFIX = "/admin/"


def _is_admin(request) -> bool:
    return request.path_info.startswith(ADMIN_PREFIX) or request.path_info == ADMIN_PREFIX.rstrip("/")


def admin_middleware(get_response):
    """The admin's middleware chain for ``/admin/`` requests; every other request goes straight through,
    with what SecurityMiddleware does to it (HTTPS redirect, HSTS, nosniff, referrer and opener
    policies — Django's own, called directly: plain CPU work, no thread hop). The admin's views protect
    themselves against CSRF (``csrf_protect``); ``process_view`` of the classic middlewares is not used."""
    from django.middleware.security import SecurityMiddleware
    from django.utils.module_loading import import_string

    admin_chain = get_response
    for dotted in reversed(ADMIN_MIDDLEWARE):
        admin_chain = import_string(dotted)(admin_chain)
    security = SecurityMiddleware(get_response)

    if iscoroutinefunction(get_response):
        async def middleware(request):
            if _is_admin(request):
                return await admin_chain(request)
            redirect = security.process_request(request)
            return redirect or security.process_response(request, await get_response(request))

        markcoroutinefunction(middleware)
    else:
        def middleware(request):
            if _is_admin(request):
                return admin_chain(request)
            redirect = security.process_request(request)
            return redirect or security.process_response(request, get_response(request))

    return middleware


admin_middleware.sync_capable = True
admin_middleware.async_capable = True
