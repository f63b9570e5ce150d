"""The sweep re-checks borrowers left pending (an outage outlasted the bus's retries): nothing is lost."""

from datetime import timedelta

import httpx
import pytest
from asgiref.sync import sync_to_async
from borrowers.kyc import borrowers_kyc_sweep
from borrowers.models import Borrower
from django.core.management import call_command
from django.utils import timezone

from tests.factories import make_borrower, outbox_events

pytestmark = pytest.mark.django_db(transaction=True)


def _age(borrower: Borrower, minutes: int) -> None:
    Borrower.all_tenants.filter(id=borrower.id).update(updated_at=timezone.now() - timedelta(minutes=minutes))


def _status(borrower: Borrower) -> str:
    return Borrower.all_tenants.get(id=borrower.id).kyc_status


def test_sweep_checks_stale_pending_borrowers_of_every_tenant(identity):
    # given stale pending borrowers in two tenants, a fresh one, and an already verified one
    acme = make_borrower(tenant="acme")
    globex = make_borrower(tenant="globex", email="x+reject@example.com")
    fresh = make_borrower(tenant="acme")
    done = make_borrower(tenant="acme", kyc_status="verified", identity_reference="r")
    for b in (acme, globex, done):
        _age(b, 10)
    # when the sweep runs
    counts = borrowers_kyc_sweep(older_than=timedelta(minutes=5))
    # then the stale ones were checked (one verified, one rejected), the others left alone
    assert counts["checked"] == 2 and counts["verified"] == 1 and counts["failed"] == 1
    assert (_status(acme), _status(globex), _status(fresh), _status(done)) == ("verified", "failed", "pending",
                                                                              "verified")
    tenants = {e["tenant_id"] for e in outbox_events() if ".kyc_" in e["event_type"]}
    assert tenants == {"acme", "globex"}


def test_sweep_stops_at_an_outage_and_the_next_sweep_finishes(identity):
    # given two stale pending borrowers and a provider that is down
    first, second = make_borrower(tenant="acme"), make_borrower(tenant="acme")
    _age(first, 20)
    _age(second, 10)
    httpx.post(f"{identity}/control", json={"mode": "fail", "times": None}).raise_for_status()
    # when the sweep runs during the outage
    counts = borrowers_kyc_sweep(older_than=timedelta(minutes=5))
    # then it stops at the first failure (no hammering) and both stay pending
    assert counts["unavailable"] == 1 and counts["checked"] == 0
    assert httpx.get(f"{identity}/control").json()["received"] == 1
    assert (_status(first), _status(second)) == ("pending", "pending")
    # when the provider is back and the sweep runs again (as the management command)
    httpx.delete(f"{identity}/control").raise_for_status()
    call_command("kyc_sweep", "--older-than", "300")
    # then both are verified
    assert (_status(first), _status(second)) == ("verified", "verified")


async def test_sweep_from_async_code_through_sync_to_async(identity):
    # the sweep is sync (it owns the event loop of its provider calls); async callers hop once
    borrower = await sync_to_async(make_borrower)(tenant="acme")
    await sync_to_async(_age)(borrower, 10)
    counts = await sync_to_async(borrowers_kyc_sweep, thread_sensitive=False)(older_than=timedelta(minutes=5))
    assert counts["verified"] == 1
