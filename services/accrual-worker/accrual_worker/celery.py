"""The worker's Celery app: ``celery -A accrual_worker worker`` and ``celery -A accrual_worker beat``."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "accrual_worker.settings")

import django  # noqa: E402

django.setup()

from celery.schedules import crontab  # noqa: E402
from celery.signals import worker_init, worker_ready, worker_shutdown  # noqa: E402
from common.celery_app import make_celery  # noqa: E402
from common.commands import LEDGER_QUEUE  # noqa: E402
from common.conf import env  # noqa: E402

app = make_celery("accrual-worker", default_queue=LEDGER_QUEUE)
app.conf.beat_schedule = {
    # Every tenant's business day: accrual, then late fees and delinquency (ledger.run_daily per tenant).
    "ledger-daily": {
        "task": "ledger.dispatch_daily",
        "schedule": crontab(hour=int(env("LEDGER_DAILY_HOUR", "0") or 0), minute=int(env("LEDGER_DAILY_MINUTE", "30") or 30)),
        "options": {"queue": LEDGER_QUEUE},
    },
}
app.autodiscover_tasks(["ledger"], force=True)

_health = {}


@worker_init.connect
def _declare_command_queue(sender=None, **kwargs):
    # Before consuming: ledger.dlq must exist, or a command rejected for good would be dropped
    # (``manage.py declare_topology`` declares the same at deploy). A broker not up yet is waited for; a
    # ``ledger`` queue of an earlier version (other arguments) is not replaced here, only by declare_topology.
    # Either failure stops the worker: SystemExit passes through Celery's signal dispatch, an Exception would not.
    import time

    import pika.exceptions
    import structlog
    from common.bus.amqp import close_quietly, connect
    from common.bus.topology import declare_command_queue

    log = structlog.get_logger("accrual_worker")
    for attempt in range(30):
        try:
            conn = connect("ledger-worker-topology")
        except pika.exceptions.AMQPConnectionError as exc:
            log.warning("worker.broker_unavailable", attempt=attempt, error=repr(exc))
            time.sleep(2)
            continue
        try:
            declare_command_queue(conn.channel(), LEDGER_QUEUE)
            return
        except pika.exceptions.ChannelClosedByBroker as exc:
            log.error("worker.command_queue_mismatch", error=repr(exc),
                      hint="run manage.py declare_topology (it upgrades the queue once drained)")
            raise SystemExit(1) from exc
        finally:
            close_quietly(conn)
    log.error("worker.broker_unavailable_giving_up")
    raise SystemExit(1)


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
