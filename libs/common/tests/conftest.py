import pytest
from common.testing import maybe_start_containers

pytest_plugins = ["common.pytest_plugin"]

maybe_start_containers()


@pytest.fixture
def celery_worker_for_tests(django_db_setup):
    from common.testing import purge_queue, running_worker
    from testproject.testapp.celery import app

    purge_queue(app, "common_tests")
    with running_worker(app) as worker:
        yield worker
