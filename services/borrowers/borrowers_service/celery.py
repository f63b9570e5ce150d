"""Celery app of the borrowers service: sends commands (the outbox relay) and runs its own tasks."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "borrowers_service.settings")

from common.celery_app import make_celery  # noqa: E402

app = make_celery("borrowers", default_queue="borrowers")
app.autodiscover_tasks(["borrowers"])
