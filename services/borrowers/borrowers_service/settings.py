"""Settings of the borrowers service: environment variables with local defaults (see the README)."""

from pathlib import Path

from common.conf import env, service_settings, service_url
from common.logging import configure_logging
from common.tracing import configure_tracing

globals().update(service_settings(
    service="borrowers",
    base_dir=Path(__file__).resolve().parent.parent,
    apps=["borrowers.apps.BorrowersConfig"],
    urlconf="borrowers_service.urls",
))

LENDSIMPLE_BORROWERS_URL = service_url("borrowers", 8001)
LENDSIMPLE_LOANS_URL = service_url("loans", 8002)
LENDSIMPLE_PAYMENTS_URL = service_url("payments", 8003)

configure_logging("borrowers")

# Identity (KYC) provider: the sandbox (`uvicorn borrowers.providers.sandbox_identity:app --port 8011`) by default.
LENDSIMPLE_IDENTITY_URL = service_url("identity", 8011)
LENDSIMPLE_IDENTITY_TIMEOUT = float(env("LENDSIMPLE_IDENTITY_TIMEOUT", "5") or 5)
configure_tracing("borrowers")
