"""The worker's Celery app: ``celery -A accrual_worker worker`` and ``celery -A accrual_worker beat``."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "accrual_worker.settings")

import django  # noqa: E402

django.setup()

from celery.schedules import crontab  # noqa: E402
from celery.signals import worker_init, worker_ready, worker_shutdown  # noqa: E402
from common.celery_app import declare_command_queue_or_exit, make_celery  # noqa: E402
from common.commands import LEDGER_QUEUE  # noqa: E402
from common.conf import env  # noqa: E402

app = make_celery("accrual-worker", default_queue=LEDGER_QUEUE)
app.conf.beat_schedule = {
    # Every tenant's business day, in its own time zone: accrual, then late fees and delinquency
    # (ledger.run_daily per tenant). Hourly: each tenant's day closes at its own midnight (+ LEDGER_DAILY_HOUR).
    "ledger-daily": {
        "task": "ledger.dispatch_daily",
        "schedule": crontab(minute=int(env("LEDGER_DAILY_MINUTE", "30") or 30)),
        "options": {"queue": LEDGER_QUEUE},
    },
}
app.autodiscover_tasks(["ledger"], force=True)

from ledger.daily import daily_closing_hour  # noqa: E402

daily_closing_hour()        # an out-of-range LEDGER_DAILY_HOUR stops the worker and beat at start

_health = {}


@worker_init.connect
def _declare_command_queue(sender=None, **kwargs):
    # before consuming: ledger.dlq must exist, or a command rejected for good would be dropped
    declare_command_queue_or_exit(LEDGER_QUEUE)


@worker_ready.connect
def _start_health_server(sender=None, **kwargs):
    # Only the worker process sends worker_ready (beat does not), so beat never binds the port.
    from django.conf import settings
    from ledger.health import start_health_server

    if "server" not in _health:
        _health["server"] = start_health_server(settings.LEDGER_HEALTH_PORT)


@worker_shutdown.connect
def _stop_health_server(sender=None, **kwargs):
    server = _health.pop("server", None)
    if server is not None:
        server.shutdown()
        server.server_close()
