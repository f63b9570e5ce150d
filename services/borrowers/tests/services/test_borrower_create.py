"""borrower_create: the borrower, the creator's grant and the created event commit together or not at all."""


import pytest
from asgiref.sync import sync_to_async
from borrowers import services
from borrowers.models import Borrower
from common.auth import Principal
from common.db import run_atomic
from common.permissions import has_object_perm
from common.tenancy import tenant_context
from guardian.models import UserObjectPermission

from tests.factories import aborrower_count, aoutbox_events

pytestmark = pytest.mark.django_db(transaction=True)

OLIVIA = Principal(subject="olivia", tenant="acme", roles=frozenset({"loan_officer"}))
FIELDS = {"first_name": "Grace", "last_name": "Hopper", "email": "grace@example.com"}


async def test_create_commits_the_borrower_the_grant_and_the_event_together():
    # when olivia creates a borrower
    with tenant_context("acme"):
        borrower = await services.borrower_create(principal=OLIVIA, fields=FIELDS)
    # then the row, her grant and one created event exist
    assert await aborrower_count(id=borrower.id, tenant_id="acme", created_by="olivia") == 1
    assert await sync_to_async(has_object_perm)(OLIVIA, borrower, "change")
    [event] = await aoutbox_events("borrowers.borrower.created.v1")
    assert event["payload"]["borrower_id"] == str(borrower.id) and event["payload"]["version"] == 1


async def test_a_rolled_back_create_emits_nothing_and_grants_nothing():
    # given a transaction that creates a borrower and then fails
    def create_then_fail():
        services._borrower_create_tx(principal=OLIVIA, fields=FIELDS)
        assert Borrower.objects.count() == 1  # the row and its event were written inside the transaction ...
        raise RuntimeError("crash after the write")

    # when it runs
    with tenant_context("acme"), pytest.raises(RuntimeError):
        await run_atomic(create_then_fail)
    # then nothing of it survives: no borrower, no outbox row, no grant
    assert await aborrower_count() == 0
    assert await aoutbox_events() == []
    assert await sync_to_async(UserObjectPermission.objects.count)() == 0


async def test_when_the_event_cannot_be_written_the_borrower_is_not_stored(monkeypatch):
    # given an outbox that fails
    def broken_outbox(*args, **kwargs):
        raise RuntimeError("outbox down")

    monkeypatch.setattr(services, "outbox_add", broken_outbox)
    # when a borrower is created, then the error surfaces and no borrower exists without its event
    with tenant_context("acme"), pytest.raises(RuntimeError):
        await services.borrower_create(principal=OLIVIA, fields=FIELDS)
    assert await aborrower_count() == 0


async def test_service_principals_create_without_a_grant():
    service = Principal(subject="service:loans", tenant="acme", roles=frozenset({"service"}))
    with tenant_context("acme"):
        await services.borrower_create(principal=service, fields=FIELDS)
    assert await sync_to_async(UserObjectPermission.objects.count)() == 0
