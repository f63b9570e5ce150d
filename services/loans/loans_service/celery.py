"""Celery app of the loans service: sends commands (the outbox relay) and runs its own tasks."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loans_service.settings")

from common.celery_app import make_celery  # noqa: E402

app = make_celery("loans", default_queue="loans")
app.autodiscover_tasks(["loans"])
