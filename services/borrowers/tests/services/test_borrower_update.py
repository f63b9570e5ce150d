"""borrower_update: row lock + version check, so concurrent edits never lose an update silently."""

import asyncio

import pytest
from borrowers import services
from common.auth import Principal
from common.errors import Conflict
from common.tenancy import tenant_context

from tests.factories import amake_borrower, aoutbox_events

pytestmark = pytest.mark.django_db(transaction=True)

OLIVIA = Principal(subject="olivia", tenant="acme", roles=frozenset({"loan_officer"}))


async def test_concurrent_conditional_updates_of_one_version_let_exactly_one_win():
    # given a borrower at version 1
    borrower = await amake_borrower(tenant="acme", owner="olivia")

    # when eight editors who all read version 1 change the phone at once
    async def edit(i: int):
        with tenant_context("acme"):
            return await services.borrower_update(principal=OLIVIA, borrower_id=borrower.id,
                                                  changes={"phone": f"+1 555 01{i:02d}"}, expected_version=1)

    results = await asyncio.gather(*(edit(i) for i in range(8)), return_exceptions=True)
    # then one succeeds (version 2), seven get 409, and one updated event was written
    winners = [r for r in results if not isinstance(r, Exception)]
    assert len(winners) == 1 and winners[0].version == 2
    assert sum(isinstance(r, Conflict) for r in results) == 7
    assert len(await aoutbox_events("borrowers.borrower.updated.v1")) == 1


async def test_concurrent_unconditional_updates_are_serialized_and_each_counted():
    # given a borrower at version 1
    borrower = await amake_borrower(tenant="acme", owner="olivia")

    async def edit(i: int):
        with tenant_context("acme"):
            return await services.borrower_update(principal=OLIVIA, borrower_id=borrower.id,
                                                  changes={"phone": f"+1 555 02{i:02d}"})

    # when ten different changes race without a version
    results = await asyncio.gather(*(edit(i) for i in range(10)))
    # then every one was applied in turn: versions 2..11, ten events with distinct versions
    assert sorted(r.version for r in results) == list(range(2, 12))
    events = await aoutbox_events("borrowers.borrower.updated.v1")
    assert sorted(e["payload"]["version"] for e in events) == list(range(2, 12))
