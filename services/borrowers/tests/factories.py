"""Test data through the sync ORM (wrap in ``sync_to_async`` from async tests)."""

import itertools
import uuid

from asgiref.sync import sync_to_async
from borrowers.models import Borrower
from common.bus.models import OutboxMessage
from common.permissions import grant
from common.tenancy import tenant_context

_seq = itertools.count(1)


def make_borrower(*, tenant: str = "acme", owner: str | None = None, **fields) -> Borrower:
    n = next(_seq)
    values = {"first_name": "Ada", "last_name": f"Lovelace{n}", "email": f"ada{n}-{uuid.uuid4().hex[:6]}@example.com"}
    values.update(fields)
    with tenant_context(tenant):
        borrower = Borrower.objects.create(**values)
        if owner:
            grant(borrower, tenant=tenant, subject=owner)
    return borrower


amake_borrower = sync_to_async(make_borrower, thread_sensitive=False)


def outbox_events(event_type: str | None = None) -> list[dict]:
    qs = OutboxMessage.objects.filter(kind=OutboxMessage.KIND_EVENT).order_by("id")
    if event_type:
        qs = qs.filter(name=event_type)
    return [m.body for m in qs]


aoutbox_events = sync_to_async(outbox_events, thread_sensitive=False)


def borrower_count(**filters) -> int:
    return Borrower.all_tenants.filter(**filters).count()


aborrower_count = sync_to_async(borrower_count, thread_sensitive=False)


async def asandbox(base_url: str, method: str = "GET", json: dict | None = None) -> dict:
    """Talk to the identity sandbox's control endpoint from async tests."""
    import httpx

    async with httpx.AsyncClient(base_url=base_url, timeout=5) as client:
        response = await client.request(method, "/control", json=json)
        response.raise_for_status()
        return response.json()
