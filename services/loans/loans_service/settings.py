"""Settings of the loans service: environment variables with local defaults (see the README)."""

from pathlib import Path

from common.conf import service_settings, service_url
from common.logging import configure_logging
from common.tracing import configure_tracing

globals().update(service_settings(
    service="loans",
    base_dir=Path(__file__).resolve().parent.parent,
    apps=["loans.apps.LoansConfig"],
    urlconf="loans_service.urls",
))

LENDSIMPLE_BORROWERS_URL = service_url("borrowers", 8001)
LENDSIMPLE_LOANS_URL = service_url("loans", 8002)
LENDSIMPLE_PAYMENTS_URL = service_url("payments", 8003)

configure_logging("loans")
configure_tracing("loans")
