"""The command check itself: a misspelled module, attribute, management command, option, queue or
Celery app is reported (so the compose, Dockerfile and Kubernetes command tests mean something)."""

from __future__ import annotations

import pytest
from deploy_support import REPO, command_errors

BORROWERS = REPO / "services" / "borrowers"
WORKER = REPO / "services" / "accrual-worker"
GUNICORN = ["-k", "uvicorn.workers.UvicornWorker", "--bind", "0.0.0.0:8001"]

MISSPELLED = [
    (BORROWERS, ["python", "manage.py", "relya"]),
    (BORROWERS, ["python", "manage.py", "consume", "--servce", "borrowers"]),
    (BORROWERS, ["python", "manage.py", "consume", "--service", "borower"]),
    (BORROWERS, ["python", "manage.py", "consume", "--service", "loans"]),      # another service's queue
    (BORROWERS, ["python", "manage.py"]),
    (BORROWERS, ["python", "-m", "borrowers"]),
    (BORROWERS, ["sh", "-c", "python manage.py migrate --noinput && python manage.py declare_topolgy"]),
    (BORROWERS, ["sh", "-c", "echo nothing to run"]),
    (BORROWERS, ["gunicorn", "borrower_service.asgi:application", *GUNICORN]),
    (BORROWERS, ["gunicorn", "borrowers_service.asgi:app", *GUNICORN]),
    (BORROWERS, ["gunicorn", "borrowers_service.asgi:application", "-k", "uvicorn.workers.UvicornWorkr"]),
    (BORROWERS, ["gunicorn", "borrowers_service.asgi:application", "-k", "uvicorn.wrkers.UvicornWorker"]),
    (BORROWERS, ["uvicorn", "borrowers.providers.sandbox_identiy:app", "--port", "8011"]),
    (BORROWERS, ["uvicorn", "borrowers.providers.sandbox_identity:application", "--port", "8011"]),
    (BORROWERS, ["gunicron", "borrowers_service.asgi:application"]),
    (WORKER, ["gunicorn", "accrual_worker.asgi:application", *GUNICORN]),       # no gunicorn in the worker
    (WORKER, ["celery", "-A", "accrual_workr", "worker", "-Q", "ledger"]),
    (WORKER, ["celery", "-A", "accrual_worker", "wroker", "-Q", "ledger"]),
    (WORKER, ["celery", "-A", "accrual_worker", "worker", "-Q", "legder"]),
    (WORKER, ["celery", "worker", "-Q", "ledger"]),
]


@pytest.mark.parametrize("service_dir,argv", MISSPELLED, ids=[" ".join(a) for _, a in MISSPELLED])
def test_a_misspelled_command_is_reported(service_dir, argv):
    service = "ledger" if service_dir == WORKER else "borrowers"
    assert command_errors(argv, service_dir, service)


def test_a_missing_service_directory_is_reported():
    assert command_errors(["python", "manage.py", "migrate"], REPO / "services" / "nope", "borrowers")
