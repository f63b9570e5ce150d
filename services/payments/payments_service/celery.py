"""Celery app of the payments service: sends commands (the outbox relay) and runs its own tasks."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "payments_service.settings")

from common.celery_app import make_celery  # noqa: E402

app = make_celery("payments", default_queue="payments")
app.autodiscover_tasks(["payments"])
