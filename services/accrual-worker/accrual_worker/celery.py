"""The worker's Celery app: ``celery -A accrual_worker worker`` and ``celery -A accrual_worker beat``."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "accrual_worker.settings")

import django  # noqa: E402

django.setup()

from common.celery_app import make_celery  # noqa: E402
from common.commands import LEDGER_QUEUE  # noqa: E402

app = make_celery("accrual-worker", default_queue=LEDGER_QUEUE)
app.autodiscover_tasks(["ledger"], force=True)
