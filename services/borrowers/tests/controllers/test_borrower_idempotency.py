"""POST /borrowers with Idempotency-Key: same key + same body → the first response; other body → 409."""

import asyncio

import pytest
from common.testing import bearer

from tests.factories import aborrower_count, aoutbox_events

pytestmark = pytest.mark.django_db(transaction=True)

OFFICER = bearer("acme", "loan_officer", sub="olivia")
BODY = {"first_name": "Grace", "last_name": "Hopper", "email": "grace@example.com", "date_of_birth": "1980-12-09"}


async def test_a_retry_with_the_same_key_answers_the_first_response_and_creates_nothing(asgi_client):
    headers = {**OFFICER, "Idempotency-Key": "create-grace-1"}
    async with asgi_client as client:
        # given a first create with a key
        first = await client.post("/api/v1/borrowers", json=BODY, headers=headers)
        assert first.status_code == 201
        # when it is retried with the same key and body (even after the borrower changed)
        await client.patch(f"/api/v1/borrowers/{first.json()['id']}", json={"phone": "+1 555 0100"}, headers=OFFICER)
        again = await client.post("/api/v1/borrowers", json=BODY, headers=headers)
        # then the first response comes back, byte for byte, and only one borrower and event exist
        assert again.status_code == 201
        assert again.content == first.content
        assert again.headers["ETag"] == first.headers["ETag"]
        # when the key is reused with another body, then 409
        other = await client.post("/api/v1/borrowers", json={**BODY, "first_name": "Amazing Grace"}, headers=headers)
        assert other.status_code == 409 and other.json()["type"].endswith("idempotency_key_reused")
        # and the same key in another tenant is a different key
        globex = await client.post("/api/v1/borrowers", json=BODY,
                                   headers={**bearer("globex", "loan_officer"), "Idempotency-Key": "create-grace-1"})
        assert globex.status_code == 201 and globex.json()["id"] != first.json()["id"]
    assert await aborrower_count(tenant_id="acme") == 1
    assert len([e for e in await aoutbox_events("borrowers.borrower.created.v1") if e["tenant_id"] == "acme"]) == 1


async def test_concurrent_retries_with_one_key_create_one_borrower(asgi_client):
    headers = {**OFFICER, "Idempotency-Key": "race-1"}
    async with asgi_client as client:
        responses = await asyncio.gather(*(client.post("/api/v1/borrowers", json=BODY, headers=headers)
                                           for _ in range(8)))
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert await aborrower_count() == 1


async def test_a_failed_create_does_not_burn_the_key_and_bad_keys_are_400(asgi_client):
    async with asgi_client as client:
        # given a create that fails validation with a key
        bad = await client.post("/api/v1/borrowers", json={**BODY, "email": "nope"},
                                headers={**OFFICER, "Idempotency-Key": "k-2"})
        assert bad.status_code == 422
        # then the corrected request may use the same key
        good = await client.post("/api/v1/borrowers", json=BODY, headers={**OFFICER, "Idempotency-Key": "k-2"})
        assert good.status_code == 201
        # and a key that is not printable ASCII, or too long, is a 400 problem
        for key in ("x" * 256, "has space"):
            r = await client.post("/api/v1/borrowers", json={**BODY, "email": "z@example.com"},
                                  headers={**OFFICER, "Idempotency-Key": key})
            assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json"
