import uuid

import pytest
from asgiref.sync import sync_to_async
from common.testing import bearer
from loans.models import AccrualRun

from tests.api import API, count_rows, outbox

pytestmark = pytest.mark.django_db(transaction=True)


async def test_an_accrual_run_is_recorded_with_its_command_for_the_worker(asgi_client, admin, tenant):
    # given an admin, when they start a run through 2024-03-31
    async with asgi_client as client:
        started = await client.post(f"{API}/accrual-runs", headers=admin, json={"through": "2024-03-31"})
        run = started.json()
        fetched = await client.get(f"{API}/accrual-runs/{run['id']}", headers=bearer(tenant, "viewer"))
        other = await client.get(f"{API}/accrual-runs/{run['id']}", headers=bearer("other-runs", "admin"))
    # then 202 queued, readable, invisible to another tenant, and the command is in the outbox
    assert started.status_code == 202
    assert run["status"] == "queued" and run["through"] == "2024-03-31"
    assert fetched.json() == {**run, "accounts_total": 0, "accounts_done": 0}
    assert other.status_code == 404
    [command] = await sync_to_async(outbox)(tenant, "ledger.accrue_portfolio")
    assert command["kind"] == "command" and command["body"]["args"] == [run["id"], "2024-03-31"]


@pytest.mark.parametrize("body", [{}, {"through": "2024-13-01"}, {"through": 20240301}])
async def test_a_bad_run_request_is_a_422_and_nothing_is_stored(asgi_client, admin, tenant, body):
    async with asgi_client as client:
        response = await client.post(f"{API}/accrual-runs", headers=admin, json=body)
    assert response.status_code == 422
    assert await sync_to_async(count_rows)(AccrualRun, tenant) == 0
    assert await sync_to_async(outbox)(tenant) == []


async def test_only_admins_run_accruals(asgi_client, officer, tenant):
    async with asgi_client as client:
        response = await client.post(f"{API}/accrual-runs", headers=officer, json={"through": "2024-03-31"})
        missing = await client.get(f"{API}/accrual-runs/{uuid.uuid4()}", headers=officer)
    assert response.status_code == 403 and missing.status_code == 404
    assert await sync_to_async(count_rows)(AccrualRun, tenant) == 0
