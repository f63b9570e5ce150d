"""Settings of the accrual worker (the ledger): a sync Celery service with no HTTP API of its own,
apart from the small health/metrics server the worker process starts (see ledger.health)."""

from pathlib import Path

from common.conf import env_int, service_settings
from common.logging import configure_logging
from common.tracing import configure_tracing

globals().update(service_settings(
    service="ledger",
    base_dir=Path(__file__).resolve().parent.parent,
    apps=["ledger.apps.LedgerConfig"],
    http=False,
))

# Where the worker serves /healthz, /readyz and /metrics (0 disables it).
LEDGER_HEALTH_PORT = env_int("LEDGER_HEALTH_PORT", 8004)

configure_logging("accrual-worker")
configure_tracing("ledger", django=False, celery=True)
