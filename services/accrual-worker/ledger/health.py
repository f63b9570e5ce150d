"""The worker's /healthz, /readyz and /metrics: a small threaded HTTP server started in the worker
process (``worker_ready`` signal, see accrual_worker.celery), never in beat."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import structlog
from common.health import _check_broker
from common.metrics import render
from django.db import connection

log = structlog.get_logger(__name__)
_CHECKS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ledger-health")


def _check_database() -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        connection.close()  # the checking thread keeps no connection


def readiness() -> tuple[bool, dict[str, str]]:
    checks = {}
    for name, check in (("database", _check_database), ("broker", _check_broker)):
        try:
            _CHECKS.submit(check).result(timeout=3)
            checks[name] = "ok"
        except FutureTimeout:
            checks[name] = "unavailable: timeout"
        except Exception as exc:  # noqa: BLE001 - readiness reports any failure, never raises
            checks[name] = f"unavailable: {type(exc).__name__}"
    return all(v == "ok" for v in checks.values()), checks


class HealthHandler(BaseHTTPRequestHandler):
    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802 - http.server's naming
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/healthz":
            self._send(200, b'{"status": "ok"}', "application/json")
        elif path == "/readyz":
            ok, checks = readiness()
            body = json.dumps({"status": "ok" if ok else "unavailable", "checks": checks}).encode()
            self._send(200 if ok else 503, body, "application/json")
        elif path == "/metrics":
            body, content_type = render()
            self._send(200, body, content_type)
        else:
            self._send(404, b'{"status": 404, "title": "Not Found"}', "application/problem+json")

    def log_message(self, format, *args):  # noqa: A002 - keep probes out of the logs
        return


def start_health_server(port: int, host: str = "0.0.0.0") -> ThreadingHTTPServer | None:
    if not port:
        return None
    try:
        server = ThreadingHTTPServer((host, port), HealthHandler)
    except OSError as exc:
        log.error("health.bind_failed", port=port, error=str(exc))
        return None
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="ledger-health", daemon=True).start()
    log.info("health.listening", port=port)
    return server
