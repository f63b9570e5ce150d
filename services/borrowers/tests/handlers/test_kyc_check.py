"""The identity check after create: handler → sandbox (real HTTP) → kyc_status + event, atomically.

Handlers are called as the consumer calls them: sync, in one transaction, with the tenant restored."""

import pytest
from asgiref.sync import sync_to_async
from borrowers.handlers import on_borrower_created, on_borrower_updated
from borrowers.models import Borrower
from borrowers.providers.identity import IdentityProviderUnavailable
from common.bus.catalogue import payload_model
from common.bus.envelope import Envelope
from common.tenancy import tenant_context
from common.testing import bearer
from django.db import transaction

from tests.factories import asandbox, outbox_events

pytestmark = pytest.mark.django_db(transaction=True)

OFFICER = bearer("acme", "loan_officer", sub="olivia")


def _deliver(handler, envelope_body: dict) -> None:
    """What the consumer does: restore the tenant, one transaction around the handler."""
    envelope = Envelope.model_validate(envelope_body)
    with tenant_context(envelope.tenant_id), transaction.atomic():
        handler(envelope, payload_model(envelope.event_type).model_validate(envelope.payload))


adeliver = sync_to_async(_deliver, thread_sensitive=False)


async def _create(client, **fields) -> dict:
    body = {"first_name": "Grace", "last_name": "Hopper", "email": "grace@example.com", **fields}
    response = await client.post("/api/v1/borrowers", json=body, headers=OFFICER)
    assert response.status_code == 201, response.text
    return response.json()


async def _created_event(borrower_id: str) -> dict:
    events = await sync_to_async(outbox_events)("borrowers.borrower.created.v1")
    return next(e for e in events if e["payload"]["borrower_id"] == borrower_id)


async def test_a_verified_check_marks_the_borrower_verified_and_emits_kyc_verified(asgi_client, identity):
    async with asgi_client as client:
        # given a new borrower, pending
        created = await _create(client)
        assert created["kyc_status"] == "pending"
        # when the created event is handled
        event = await _created_event(created["id"])
        await adeliver(on_borrower_created, event)
        # then the borrower is verified with the provider's reference
        after = (await client.get(f"/api/v1/borrowers/{created['id']}", headers=OFFICER)).json()
    assert after["kyc_status"] == "verified" and after["identity_reference"].startswith("sbx_idv_")
    assert after["version"] == 1  # a KYC result is not an edit: a client's If-Match stays valid
    [verified] = await sync_to_async(outbox_events)("borrowers.borrower.kyc_verified.v1")
    assert verified["payload"] == {"borrower_id": created["id"], "identity_reference": after["identity_reference"]}
    assert verified["causation_id"] == event["event_id"]
    # and a redelivery changes nothing and emits nothing more
    await adeliver(on_borrower_created, event)
    assert len(await sync_to_async(outbox_events)("borrowers.borrower.kyc_verified.v1")) == 1


async def test_a_rejected_check_marks_the_borrower_failed_with_the_reason(asgi_client, identity):
    async with asgi_client as client:
        created = await _create(client, email="grace+reject@example.com")
        await adeliver(on_borrower_created, await _created_event(created["id"]))
        after = (await client.get(f"/api/v1/borrowers/{created['id']}", headers=OFFICER)).json()
    assert after["kyc_status"] == "failed" and after["identity_reference"] is None and after["kyc_reason"]
    [failed] = await sync_to_async(outbox_events)("borrowers.borrower.kyc_failed.v1")
    assert failed["payload"]["borrower_id"] == created["id"] and failed["payload"]["reason"] == after["kyc_reason"]


@pytest.mark.parametrize("trouble", ["timeout", "fail"])
async def test_a_timeout_or_outage_raises_for_a_retry_and_writes_nothing(asgi_client, identity, trouble):
    async with asgi_client as client:
        # given a borrower whose check times out (sandbox answers after 3 s, client gives up at 1 s) or fails
        created = await _create(client, email=f"grace+{trouble}@example.com")
        event = await _created_event(created["id"])
        # when the event is handled, then the handler raises so the bus retries it
        with pytest.raises(IdentityProviderUnavailable):
            await adeliver(on_borrower_created, event)
        # and the borrower is still there, pending, with no KYC event
        after = (await client.get(f"/api/v1/borrowers/{created['id']}", headers=OFFICER)).json()
    assert after["kyc_status"] == "pending"
    kyc = [e for e in await sync_to_async(outbox_events)() if ".kyc_" in e["event_type"]]
    assert kyc == []


async def test_after_an_outage_the_retry_verifies(asgi_client, identity):
    # given a provider that fails the next two calls
    await asandbox(identity, "POST", {"mode": "fail", "times": 2})
    async with asgi_client as client:
        created = await _create(client)
        event = await _created_event(created["id"])
        # when the bus redelivers after each failure
        for _ in range(2):
            with pytest.raises(IdentityProviderUnavailable):
                await adeliver(on_borrower_created, event)
        await adeliver(on_borrower_created, event)
        # then the third attempt verifies
        after = (await client.get(f"/api/v1/borrowers/{created['id']}", headers=OFFICER)).json()
    assert after["kyc_status"] == "verified"


async def test_an_edit_during_the_check_wins_over_the_stale_result(asgi_client, identity, monkeypatch):
    # given a check whose provider call happens while the borrower's name is being changed
    from borrowers import kyc

    async with asgi_client as client:
        created = await _create(client)
        event = await _created_event(created["id"])
        real_verify = kyc._request_for

        def edit_during_check(borrower):
            request = real_verify(borrower)
            with tenant_context("acme"):
                Borrower.objects.filter(id=borrower.id).update(last_name="Murray", version=2)
            return request

        monkeypatch.setattr(kyc, "_request_for", edit_during_check)
        # when the check completes
        await adeliver(on_borrower_created, event)
        after = (await client.get(f"/api/v1/borrowers/{created['id']}", headers=OFFICER)).json()
    # then the result for the old name is not recorded: the borrower stays pending for the new check
    assert after["kyc_status"] == "pending" and after["last_name"] == "Murray"


async def test_an_update_that_resets_kyc_triggers_a_new_check(asgi_client, identity):
    async with asgi_client as client:
        created = await _create(client)
        await adeliver(on_borrower_created, await _created_event(created["id"]))
        # when the name changes (back to pending) and the updated event is handled
        url = f"/api/v1/borrowers/{created['id']}"
        await client.patch(url, json={"last_name": "Reject"}, headers=OFFICER)
        [updated] = await sync_to_async(outbox_events)("borrowers.borrower.updated.v1")
        await adeliver(on_borrower_updated, updated)
        after = (await client.get(url, headers=OFFICER)).json()
        # then the new identity was checked (and the sandbox rejects "Reject")
        assert after["kyc_status"] == "failed"
        # and an update that does not touch identity fields does not call the provider
        before = (await asandbox(identity))["received"]
        await client.patch(url, json={"phone": "+1 555 0100"}, headers=OFFICER)
        phone_event = (await sync_to_async(outbox_events)("borrowers.borrower.updated.v1"))[-1]
        await adeliver(on_borrower_updated, phone_event)
        assert (await asandbox(identity))["received"] == before
