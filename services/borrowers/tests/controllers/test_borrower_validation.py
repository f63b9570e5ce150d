"""Bad input is a 422 (or 400 for unparsable JSON) problem, and nothing is stored or emitted."""

import pytest
from common.testing import bearer

from tests.factories import aborrower_count, amake_borrower, aoutbox_events

pytestmark = pytest.mark.django_db(transaction=True)

OFFICER = bearer("acme", "loan_officer", sub="olivia")
VALID = {"first_name": "Grace", "last_name": "Hopper", "email": "grace@example.com"}

BAD_BODIES = [
    ("missing first_name", {"last_name": "Hopper", "email": "grace@example.com"}, "first_name"),
    ("missing email", {"first_name": "Grace", "last_name": "Hopper"}, "email"),
    ("malformed email", {**VALID, "email": "grace-at-example"}, "email"),
    ("email with spaces", {**VALID, "email": "grace hopper@example.com"}, "email"),
    ("10 kB first name", {**VALID, "first_name": "G" * 10_240}, "first_name"),
    ("10 kB last name", {**VALID, "last_name": "H" * 10_240}, "last_name"),
    ("101-character name", {**VALID, "first_name": "G" * 101}, "first_name"),
    ("blank name", {**VALID, "last_name": "   "}, "last_name"),
    ("control character in name", {**VALID, "first_name": "Gr\x00ace"}, "first_name"),
    ("name is a number", {**VALID, "first_name": 42}, "first_name"),
    ("name is a list", {**VALID, "last_name": ["Hopper"]}, "last_name"),
    ("email is an object", {**VALID, "email": {"value": "grace@example.com"}}, "email"),
    ("date of birth in the future", {**VALID, "date_of_birth": "2999-01-01"}, "date_of_birth"),
    ("date of birth before 1900", {**VALID, "date_of_birth": "1899-12-31"}, "date_of_birth"),
    ("date of birth not a date", {**VALID, "date_of_birth": "1980-02-30"}, "date_of_birth"),
    ("date of birth as a number", {**VALID, "date_of_birth": 315532800}, "date_of_birth"),
    ("phone with letters", {**VALID, "phone": "call me"}, "phone"),
    ("address too long", {**VALID, "address": "x" * 501}, "address"),
    ("address object without city", {**VALID, "address": {"line1": "1 Main St", "country": "US"}}, "address"),
    ("address object with a bad country", {**VALID, "address": {"line1": "1 Main", "city": "X", "country": "USA"}},
     "address"),
    ("address is a number", {**VALID, "address": 12}, "address"),
    ("body is a list", [VALID], None),
]


@pytest.mark.parametrize(("case", "body", "field"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
async def test_bad_create_is_a_422_problem_and_stores_nothing(asgi_client, case, body, field):
    # given an officer
    async with asgi_client as client:
        # when they send a bad body
        response = await client.post("/api/v1/borrowers", json=body, headers=OFFICER)
    # then it is a 422 problem naming the field, without echoing the input
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422 and problem["errors"]
    if field:
        assert any(field in [str(p) for p in err["loc"]] for err in problem["errors"]), problem
    assert "G" * 200 not in response.text
    # and nothing was stored or emitted
    assert await aborrower_count() == 0
    assert await aoutbox_events() == []


@pytest.mark.parametrize("raw", [b'{"first_name": "Grace", ', b"not json at all", b'{"first_name": "\xff"}'])
async def test_malformed_json_is_a_problem_not_a_500(asgi_client, raw):
    async with asgi_client as client:
        response = await client.post("/api/v1/borrowers", content=raw,
                                     headers={**OFFICER, "Content-Type": "application/json"})
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert await aborrower_count() == 0


PATCH_BAD = [
    ("null first name", {"first_name": None}),
    ("null email", {"email": None}),
    ("malformed email", {"email": "nope"}),
    ("10 kB last name", {"last_name": "x" * 10_240}),
    ("version is a string", {"version": "1"}),
    ("version zero", {"version": 0}),
    ("date of birth wrong type", {"date_of_birth": True}),
]


@pytest.mark.parametrize(("case", "body"), PATCH_BAD, ids=[c[0] for c in PATCH_BAD])
async def test_bad_patch_is_a_422_and_changes_nothing(asgi_client, case, body):
    # given a borrower the officer owns
    borrower = await amake_borrower(tenant="acme", owner="olivia", first_name="Grace")
    async with asgi_client as client:
        # when they send a bad patch
        response = await client.patch(f"/api/v1/borrowers/{borrower.id}", json=body, headers=OFFICER)
        # then 422 problem, and the borrower is unchanged (version 1, no event)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        after = (await client.get(f"/api/v1/borrowers/{borrower.id}", headers=OFFICER)).json()
    assert after["version"] == 1 and after["first_name"] == "Grace"
    assert await aoutbox_events() == []


async def test_unknown_borrower_ids_are_404_and_malformed_ids_422(asgi_client):
    async with asgi_client as client:
        missing = await client.get("/api/v1/borrowers/00000000-0000-0000-0000-000000000000", headers=OFFICER)
        malformed = await client.get("/api/v1/borrowers/not-a-uuid", headers=OFFICER)
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    assert malformed.status_code in (404, 422)
