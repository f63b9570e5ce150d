"""Settings of the payments service: environment variables with local defaults (see the README)."""

from pathlib import Path

from common.conf import env, service_settings, service_url
from common.logging import configure_logging
from common.tracing import configure_tracing

globals().update(service_settings(
    service="payments",
    base_dir=Path(__file__).resolve().parent.parent,
    apps=["payments.apps.PaymentsConfig"],
    urlconf="payments_service.urls",
))

LENDSIMPLE_BORROWERS_URL = service_url("borrowers", 8001)
LENDSIMPLE_LOANS_URL = service_url("loans", 8002)
LENDSIMPLE_PAYMENTS_URL = service_url("payments", 8003)

configure_logging("payments")

# The payment processor (the sandbox of payments.providers.sandbox_processor by default) and the
# shared secret its callbacks are signed with.
LENDSIMPLE_PROCESSOR_URL = service_url("processor", 8012)
# Seconds the request path waits for the processor to accept a charge; slower is retried by the sweep.
LENDSIMPLE_PROCESSOR_TIMEOUT = float(env("LENDSIMPLE_PROCESSOR_TIMEOUT", "3.0"))
from payments.providers.signing import webhook_secret  # noqa: E402

LENDSIMPLE_PROCESSOR_WEBHOOK_SECRET = webhook_secret()
configure_tracing("payments")
