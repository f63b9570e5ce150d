"""``/healthz`` (the process lives), ``/readyz`` (its database and RabbitMQ answer), ``/metrics``."""

from __future__ import annotations

import asyncio
import time

from django.db import connections
from django.http import HttpResponse, JsonResponse
from django.urls import path

from common.conf import broker_url
from common.db import run_sync
from common.metrics import render

_BROKER_CACHE: dict[str, float] = {}


def _check_database() -> None:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_broker() -> None:
    # A cached success for one second keeps a busy probe from opening a connection per request.
    if time.monotonic() - _BROKER_CACHE.get("ok", -10.0) < 1.0:
        return
    from kombu import Connection

    with Connection(broker_url(), connect_timeout=2) as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    _BROKER_CACHE["ok"] = time.monotonic()


async def healthz(request):
    return JsonResponse({"status": "ok"})


async def readyz(request):
    checks = {}
    for name, check in (("database", _check_database), ("broker", _check_broker)):
        try:
            await asyncio.wait_for(run_sync(check), timeout=3)
            checks[name] = "ok"
        except Exception as exc:  # readiness reports any failure; it never raises
            checks[name] = f"unavailable: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    return JsonResponse({"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503)


async def metrics(request):
    body, content_type = render()
    return HttpResponse(body, content_type=content_type)


def health_urls() -> list:
    return [path("healthz", healthz), path("readyz", readyz), path("metrics", metrics)]
