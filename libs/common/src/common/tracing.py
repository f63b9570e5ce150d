"""OpenTelemetry tracing, off unless ``LENDSIMPLE_OTEL_ENABLED=1``.

When on, every process traces Django requests, Celery tasks, httpx calls and psycopg queries, and
exports spans over OTLP/HTTP to ``OTEL_EXPORTER_OTLP_ENDPOINT`` (the standard variable; e.g. a local
collector or Jaeger at http://127.0.0.1:4318), or prints them to stdout with
``LENDSIMPLE_OTEL_EXPORTER=console``. ``OTEL_SERVICE_NAME`` overrides the service name.
Tracing is opt-in because exporting costs CPU on a 2-core machine and needs a collector to be useful.
"""

from __future__ import annotations

import os

_configured = False


def tracing_enabled() -> bool:
    return os.environ.get("LENDSIMPLE_OTEL_ENABLED", "").strip().lower() in {"1", "true", "yes", "on"}


def configure_tracing(service: str, *, django: bool = True, celery: bool = False) -> bool:
    """Install the tracer provider and instrumentations once per process; False when disabled."""
    global _configured
    if _configured or not tracing_enabled():
        return _configured
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    provider = TracerProvider(resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME",
                                                                                       f"lendsimple-{service}")}))
    if os.environ.get("LENDSIMPLE_OTEL_EXPORTER", "otlp") == "console":
        exporter = ConsoleSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)

    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor

    HTTPXClientInstrumentor().instrument()
    PsycopgInstrumentor().instrument(enable_commenter=False)
    if django:
        from opentelemetry.instrumentation.django import DjangoInstrumentor

        DjangoInstrumentor().instrument()
    if celery:
        from opentelemetry.instrumentation.celery import CeleryInstrumentor

        CeleryInstrumentor().instrument()
    _configured = True
    return True
