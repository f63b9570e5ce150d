"""TenantTask and async_task_delay against the real broker and a real worker."""

import uuid

import httpx
import pytest
from asgiref.sync import sync_to_async
from common.tasks import TENANT_HEADER, TenantNotInMessage
from common.testing import await_until, bearer
from testproject.testapp.models import TaskRun
from testproject.testapp.tasks import record_tenant

pytestmark = pytest.mark.django_db(transaction=True)


def _asgi_client():
    from common.asgi import get_asgi_application

    return httpx.AsyncClient(transport=httpx.ASGITransport(app=get_asgi_application()), base_url="http://testserver")


async def test_async_view_dispatches_task_the_real_worker_runs_with_the_tenant(celery_worker_for_tests):
    # given a marker and a token for tenant acme
    marker = uuid.uuid4().hex
    async with _asgi_client() as client:
        # when an async view sends the task with async_task_delay
        response = await client.post("/api/v1/probe/dispatch", json={"marker": marker}, headers=bearer("acme"))
    assert response.status_code == 202
    # then the worker ran it with tenant acme restored
    run = await await_until(lambda: TaskRun.objects.filter(marker=marker).afirst(), timeout=20, message="task run")
    assert run.tenant_id == "acme"


async def test_task_sent_without_tenant_is_refused(celery_worker_for_tests):
    # given a message carrying no tenant header (sent with no tenant in context)
    refused = uuid.uuid4().hex
    await sync_to_async(record_tenant.delay, thread_sensitive=False)(refused)
    # and a good one after it, so we know the worker has processed the first
    accepted = uuid.uuid4().hex
    await sync_to_async(record_tenant.apply_async, thread_sensitive=False)((accepted,), headers={TENANT_HEADER: "acme"})
    await await_until(lambda: TaskRun.objects.filter(marker=accepted).aexists(), timeout=20, message="second task")
    # then the first never ran
    assert not await TaskRun.objects.filter(marker=refused).aexists()


def test_task_body_refuses_to_run_unscoped_in_eager_apply():
    # eager mode is allowed for the unit test of a task body
    result = record_tenant.apply(args=("eager-no-tenant",))
    assert isinstance(result.result, TenantNotInMessage)
    assert not TaskRun.objects.filter(marker="eager-no-tenant").exists()


def test_task_body_runs_scoped_in_eager_apply_with_header():
    record_tenant.apply(args=("eager-with-tenant",), headers={TENANT_HEADER: "globex"})
    assert TaskRun.objects.get(marker="eager-with-tenant").tenant_id == "globex"
