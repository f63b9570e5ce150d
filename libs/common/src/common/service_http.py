"""Service-to-service GETs (docs/integration.md): a service token for the tenant, the correlation id,
timeouts, bounded retries with linear back-off on transport errors and 5xx. A 4xx is an answer (the
caller decides what a 404 means); anything else after the last attempt is ``ServiceUnreachable``."""

from __future__ import annotations

import asyncio
import weakref

import httpx
import structlog

from common.logging import get_correlation_id
from common.tokens import Principal, service_token

log = structlog.get_logger(__name__)


_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = weakref.WeakKeyDictionary()


def shared_client() -> httpx.AsyncClient:
    """The event loop's one HTTP client, for every outgoing call of the process (other services, the
    processor, the identity provider, webhooks): keep-alive connections, and the CA bundle loaded once.
    Creating an ``httpx.AsyncClient`` loads it — ~21 ms of CPU, measured — so a client per call was most of
    a payment's CPU in the payment pipeline benchmark. Callers pass their own ``timeout`` per request."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.is_closed:
        client = _clients[loop] = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50))
    return client


class ServiceUnreachable(Exception):
    """The other service gave no usable answer after every attempt."""


def _bearer(*, tenant: str, caller: str, on_behalf_of: Principal | None) -> str:
    """A service token, or — asking on behalf of a user who sees only what they are granted — the user's own
    token, so that the other service answers what that user may see (404 for an object not granted)."""
    if on_behalf_of is None or on_behalf_of.sees_all:
        return service_token(tenant=tenant, service=caller)
    if not on_behalf_of.token or on_behalf_of.tenant != tenant:
        raise ValueError("a call on a user's behalf needs that user's token, for the same tenant")
    return on_behalf_of.token


async def service_get(url: str, *, tenant: str, caller: str, timeout: httpx.Timeout | float,
                      attempts: int = 3, backoff_seconds: float = 0.2,
                      on_behalf_of: Principal | None = None) -> httpx.Response:
    """GET ``url`` as ``caller`` acting for ``tenant``; returns the 2xx or 4xx response. ``on_behalf_of``: the
    user the answer is for — an admin sees every object of the tenant (a service token), anyone else only what they
    hold a grant on (their own token is presented)."""
    last_error = "no attempt"
    client = shared_client()
    for attempt in range(1, attempts + 1):
        headers = {"Authorization": f"Bearer {_bearer(tenant=tenant, caller=caller, on_behalf_of=on_behalf_of)}"}
        if correlation_id := get_correlation_id():
            headers["X-Correlation-ID"] = correlation_id
        try:
            response = await client.get(url, headers=headers, timeout=timeout)
        except httpx.TransportError as exc:
            last_error = f"{type(exc).__name__}: {exc}"
        else:
            if response.status_code == 404 or 200 <= response.status_code < 300:
                return response
            last_error = f"status {response.status_code}"
            if response.status_code < 500:
                break  # a 4xx other than 404 (e.g. a rejected token) will not get better by retrying
        log.warning("service_http.attempt_failed", url=url, attempt=attempt, error=last_error)
        if attempt < attempts:
            await asyncio.sleep(backoff_seconds * attempt)
    raise ServiceUnreachable(last_error)
