"""Tracing is opt-in: off by default, and when switched on it really records spans."""

import subprocess
import sys

from common.tracing import configure_tracing, tracing_enabled


def test_off_by_default(monkeypatch):
    monkeypatch.delenv("LENDSIMPLE_OTEL_ENABLED", raising=False)
    assert not tracing_enabled()
    assert configure_tracing("test") is False


def test_switched_on_it_exports_spans_of_database_queries():
    # a fresh interpreter, so the global tracer provider of this test session is untouched
    code = """
import os
os.environ.update(LENDSIMPLE_OTEL_ENABLED="1", LENDSIMPLE_OTEL_EXPORTER="console")
from common.tracing import configure_tracing
assert configure_tracing("probe", django=False) is True
import psycopg
from opentelemetry import trace
from common.conf import database
db = database("common")
with psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname="postgres") as conn:
    conn.execute("SELECT 42")
trace.get_tracer_provider().force_flush()
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert '"service.name": "lendsimple-probe"' in result.stdout
    assert "SELECT 42" in result.stdout
