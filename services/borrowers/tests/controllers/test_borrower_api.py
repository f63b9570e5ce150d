import pytest
from common.testing import bearer

from tests.factories import aborrower_count, aoutbox_events

pytestmark = pytest.mark.django_db(transaction=True)

OFFICER = bearer("acme", "loan_officer", sub="olivia")
NEW = {"first_name": "Grace", "last_name": "Hopper", "email": "grace@example.com", "phone": "+1 555 0100",
       "date_of_birth": "1980-12-09", "address": "1 Navy Yard, Arlington VA"}


async def test_create_then_get_returns_the_contract_fields(asgi_client):
    # given a loan officer of acme
    async with asgi_client as client:
        # when they create a borrower
        created = await client.post("/api/v1/borrowers", json=NEW, headers=OFFICER)
        # then it is stored, pending KYC, and readable with every contract field
        assert created.status_code == 201, created.text
        body = created.json()
        for key, value in NEW.items():
            assert body[key] == value
        assert body["kyc_status"] == "pending" and body["version"] == 1
        assert {"id", "created_at", "updated_at", "identity_reference"} <= set(body)
        assert created.headers["ETag"] == '"1"'
        assert created.headers["Location"].endswith(f"/api/v1/borrowers/{body['id']}")
        fetched = await client.get(f"/api/v1/borrowers/{body['id']}", headers=OFFICER)
        assert fetched.status_code == 200
        assert fetched.json() == body


async def test_create_with_only_required_fields_and_an_address_object(asgi_client):
    # given the minimum plus a structured address
    body = {"first_name": "Alan", "last_name": "Turing", "email": "alan@example.com",
            "address": {"line1": "Bletchley Park", "city": "Milton Keynes", "postal_code": "MK3 6EB", "country": "gb"}}
    async with asgi_client as client:
        # when created
        response = await client.post("/api/v1/borrowers", json=body, headers=OFFICER)
    # then optional fields are null and the address comes back as an object (country upper-cased)
    assert response.status_code == 201, response.text
    out = response.json()
    assert out["phone"] is None and out["date_of_birth"] is None
    assert out["address"] == {"line1": "Bletchley Park", "city": "Milton Keynes", "postal_code": "MK3 6EB",
                              "country": "GB"}


async def test_create_writes_the_created_event(asgi_client):
    # given an officer
    async with asgi_client as client:
        # when they create a borrower
        created = (await client.post("/api/v1/borrowers", json=NEW, headers=OFFICER)).json()
    # then exactly one borrowers.borrower.created.v1 is in the outbox, for this tenant and borrower
    events = await aoutbox_events("borrowers.borrower.created.v1")
    assert len(events) == 1
    assert events[0]["tenant_id"] == "acme"
    assert events[0]["payload"]["borrower_id"] == created["id"]
    assert events[0]["payload"]["email"] == NEW["email"] and events[0]["payload"]["kyc_status"] == "pending"


async def test_list_and_search_by_name_and_email_with_pagination(asgi_client):
    # given three borrowers created by the same officer
    people = [("Grace", "Hopper", "grace@navy.mil"), ("Ada", "Lovelace", "ada@analytical.org"),
              ("Katherine", "Johnson", "kj@nasa.gov")]
    async with asgi_client as client:
        for first, last, email in people:
            r = await client.post("/api/v1/borrowers", json={"first_name": first, "last_name": last, "email": email},
                                  headers=OFFICER)
            assert r.status_code == 201
        # when listing everything, then all three come back newest first with the count
        everything = (await client.get("/api/v1/borrowers", headers=OFFICER)).json()
        assert everything["count"] == 3
        assert [i["last_name"] for i in everything["items"]] == ["Johnson", "Lovelace", "Hopper"]
        # when searching by part of a last name, a full name (case-insensitive) and an email domain
        by_last = (await client.get("/api/v1/borrowers", params={"search": "lovel"}, headers=OFFICER)).json()
        by_full = (await client.get("/api/v1/borrowers", params={"search": "grace hopper"}, headers=OFFICER)).json()
        by_email = (await client.get("/api/v1/borrowers", params={"search": "nasa.gov"}, headers=OFFICER)).json()
        none = (await client.get("/api/v1/borrowers", params={"search": "nobody"}, headers=OFFICER)).json()
        # then each finds exactly the matching borrower
        assert [i["last_name"] for i in by_last["items"]] == ["Lovelace"] and by_last["count"] == 1
        assert [i["last_name"] for i in by_full["items"]] == ["Hopper"]
        assert [i["last_name"] for i in by_email["items"]] == ["Johnson"]
        assert none == {"items": [], "count": 0}
        # when paginating, then the count is the total and the page is the slice
        page = (await client.get("/api/v1/borrowers", params={"limit": 1, "offset": 1}, headers=OFFICER)).json()
        assert page["count"] == 3 and [i["last_name"] for i in page["items"]] == ["Lovelace"]
        # and bad pagination is a 422 problem
        bad = await client.get("/api/v1/borrowers", params={"limit": 0}, headers=OFFICER)
        assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"


async def test_patch_changes_only_the_fields_sent_and_emits_updated(asgi_client):
    # given a borrower
    async with asgi_client as client:
        created = (await client.post("/api/v1/borrowers", json=NEW, headers=OFFICER)).json()
        url = f"/api/v1/borrowers/{created['id']}"
        # when the officer changes the phone and clears the address
        patched = await client.patch(url, json={"phone": "+1 555 0199", "address": None}, headers=OFFICER)
        # then only those changed, the version moved on, and the change is readable
        assert patched.status_code == 200, patched.text
        body = patched.json()
        assert body["phone"] == "+1 555 0199" and body["address"] is None
        assert body["first_name"] == "Grace" and body["email"] == NEW["email"]
        assert body["version"] == 2 and patched.headers["ETag"] == '"2"'
        assert body["updated_at"] > created["updated_at"]
        assert (await client.get(url, headers=OFFICER)).json() == body
        # and an empty patch changes nothing
        same = await client.patch(url, json={}, headers=OFFICER)
        assert same.status_code == 200 and same.json()["version"] == 2
    events = await aoutbox_events("borrowers.borrower.updated.v1")
    assert len(events) == 1
    assert events[0]["payload"]["changed"] == ["address", "phone"] and events[0]["payload"]["version"] == 2


async def test_patch_of_a_name_sends_a_verified_borrower_back_to_pending(asgi_client):
    # given a verified borrower
    from asgiref.sync import sync_to_async
    from borrowers.models import Borrower

    async with asgi_client as client:
        created = (await client.post("/api/v1/borrowers", json=NEW, headers=OFFICER)).json()
        await sync_to_async(lambda: Borrower.all_tenants.filter(id=created["id"]).update(
            kyc_status="verified", identity_reference="ref-1"))()
        # when the last name changes
        body = (await client.patch(f"/api/v1/borrowers/{created['id']}", json={"last_name": "Hopper-Murray"},
                                   headers=OFFICER)).json()
    # then the old verification no longer holds
    assert body["kyc_status"] == "pending" and body["identity_reference"] is None
    assert (await aoutbox_events("borrowers.borrower.updated.v1"))[0]["payload"]["kyc_status"] == "pending"


async def test_patch_with_a_stale_version_is_a_409_and_changes_nothing(asgi_client):
    # given a borrower at version 2
    async with asgi_client as client:
        created = (await client.post("/api/v1/borrowers", json=NEW, headers=OFFICER)).json()
        url = f"/api/v1/borrowers/{created['id']}"
        ok = await client.patch(url, json={"phone": "+1 555 0101"}, headers={**OFFICER, "If-Match": '"1"'})
        assert ok.status_code == 200 and ok.json()["version"] == 2
        # when someone patches with the version they read before (header, then body field)
        stale_header = await client.patch(url, json={"phone": "+1 555 0102"}, headers={**OFFICER, "If-Match": '"1"'})
        stale_body = await client.patch(url, json={"phone": "+1 555 0103", "version": 1}, headers=OFFICER)
        # then both are 409 problems and the stored phone is the first change
        for response in (stale_header, stale_body):
            assert response.status_code == 409
            assert response.headers["content-type"] == "application/problem+json"
        assert (await client.get(url, headers=OFFICER)).json()["phone"] == "+1 555 0101"
        # and the current version works, a garbage If-Match is a 400
        current = await client.patch(url, json={"phone": "+1 555 0104", "version": 2}, headers=OFFICER)
        assert current.status_code == 200 and current.json()["version"] == 3
        garbage = await client.patch(url, json={"phone": "+1 555 0105"}, headers={**OFFICER, "If-Match": "abc"})
        assert garbage.status_code == 400
    assert len(await aoutbox_events("borrowers.borrower.updated.v1")) == 2


async def test_two_borrowers_may_share_an_email_a_household_or_a_co_borrower(asgi_client):
    # given a borrower with an email in acme
    async with asgi_client as client:
        first = await client.post("/api/v1/borrowers", json=NEW, headers=OFFICER)
        assert first.status_code == 201
        # when another person with the same email (other case) is created, and a third is changed to it
        dup = {**NEW, "email": NEW["email"].upper(), "first_name": "Other"}
        again = await client.post("/api/v1/borrowers", json=dup, headers=OFFICER)
        third = (await client.post("/api/v1/borrowers", json={**NEW, "email": "third@example.com"},
                                   headers=OFFICER)).json()
        changed = await client.patch(f"/api/v1/borrowers/{third['id']}", json={"email": NEW["email"]},
                                     headers=OFFICER)
        # then each is its own borrower (email is contact data, not an identity), and each was announced
        assert again.status_code == 201, again.text
        assert again.json()["id"] != first.json()["id"]
        assert changed.status_code == 200 and changed.json()["version"] == 2
        assert await aborrower_count(tenant_id="acme") == 3
        assert len(await aoutbox_events("borrowers.borrower.created.v1")) == 3
