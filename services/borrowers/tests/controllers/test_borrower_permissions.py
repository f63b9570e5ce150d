"""Per-object permission matrix: role from the token, object grant from guardian, tenant from the token."""

import uuid

import pytest
from common.auth import service_token
from common.testing import bearer

from tests.factories import amake_borrower

pytestmark = pytest.mark.django_db(transaction=True)


def _service(tenant: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {service_token(tenant=tenant, service='loans')}"}


# (who, headers, may GET/see in list, may PATCH) for a borrower of acme granted to "olivia" only
MATRIX = [
    ("admin of acme", bearer("acme", "admin", sub="alice"), 200, 200),
    ("service token of acme (reads only)", _service("acme"), 200, 403),
    ("officer with a grant", bearer("acme", "loan_officer", sub="olivia"), 200, 200),
    ("officer without a grant", bearer("acme", "loan_officer", sub="oscar"), 404, 404),
    ("viewer with a grant", bearer("acme", "viewer", sub="olivia"), 200, 403),
    ("viewer without a grant", bearer("acme", "viewer", sub="victor"), 404, 403),
    ("collector with a grant", bearer("acme", "collector", sub="olivia"), 200, 403),
    ("admin of another tenant", bearer("globex", "admin", sub="alice"), 404, 404),
    ("officer of another tenant, same subject", bearer("globex", "loan_officer", sub="olivia"), 404, 404),
    ("service token of another tenant", _service("globex"), 404, 403),
]


@pytest.mark.parametrize(("who", "headers", "read", "write"), MATRIX, ids=[m[0] for m in MATRIX])
async def test_object_permission_matrix(asgi_client, who, headers, read, write):
    # given a borrower of acme granted to olivia
    borrower = await amake_borrower(tenant="acme", owner="olivia", last_name="Granted")
    url = f"/api/v1/borrowers/{borrower.id}"
    async with asgi_client as client:
        # when the caller reads it, lists, and patches it
        got = await client.get(url, headers=headers)
        listed = await client.get("/api/v1/borrowers", headers=headers)
        patched = await client.patch(url, json={"phone": "+44 20 7946 0000"}, headers=headers)
    # then each answer follows the matrix; refusals are problems that never carry the borrower
    assert got.status_code == read, got.text
    assert patched.status_code == write, patched.text
    ids = [item["id"] for item in listed.json()["items"]]
    assert listed.status_code == 200
    assert (str(borrower.id) in ids) == (read == 200)
    for refused in (r for r in (got, patched) if r.status_code >= 400):
        assert refused.headers["content-type"] == "application/problem+json"
        assert "Granted" not in refused.text


async def test_creator_is_granted_and_other_officers_are_not(asgi_client):
    # given two officers of acme
    olivia, oscar = bearer("acme", "loan_officer", sub="olivia"), bearer("acme", "loan_officer", sub="oscar")
    async with asgi_client as client:
        # when olivia creates a borrower
        created = (await client.post("/api/v1/borrowers", json={"first_name": "A", "last_name": "B",
                                                                "email": "ab@example.com"}, headers=olivia)).json()
        url = f"/api/v1/borrowers/{created['id']}"
        # then she can read and change it, oscar can neither and does not see it in his list
        assert (await client.get(url, headers=olivia)).status_code == 200
        assert (await client.patch(url, json={"first_name": "Al"}, headers=olivia)).status_code == 200
        assert (await client.get(url, headers=oscar)).status_code == 404
        assert (await client.patch(url, json={"first_name": "X"}, headers=oscar)).status_code == 404
        assert (await client.get("/api/v1/borrowers", headers=oscar)).json() == {"items": [], "count": 0}


async def test_roles_below_loan_officer_may_not_create(asgi_client):
    body = {"first_name": "A", "last_name": "B", "email": "ab@example.com"}
    async with asgi_client as client:
        for role in ("viewer", "collector"):
            # when a viewer or collector creates, then 403 problem
            response = await client.post("/api/v1/borrowers", json=body, headers=bearer("acme", role))
            assert response.status_code == 403
            assert response.headers["content-type"] == "application/problem+json"
        # and no token / a bad token is a 401
        assert (await client.post("/api/v1/borrowers", json=body)).status_code == 401
        bad = {"Authorization": "Bearer not-a-jwt"}
        assert (await client.get("/api/v1/borrowers", headers=bad)).status_code == 401


async def test_admin_assigns_a_borrower_to_another_officer(asgi_client):
    # given a borrower created by olivia and an officer oscar with no grant
    admin, oscar = bearer("acme", "admin", sub="alice"), bearer("acme", "loan_officer", sub="oscar")
    borrower = await amake_borrower(tenant="acme", owner="olivia")
    url = f"/api/v1/borrowers/{borrower.id}"
    async with asgi_client as client:
        assert (await client.get(url, headers=oscar)).status_code == 404
        # when an officer tries to assign, then 403; when the admin assigns it to oscar, then 200
        denied = await client.post(f"{url}/assign", json={"subject": "oscar"}, headers=oscar)
        assert denied.status_code == 403
        assigned = await client.post(f"{url}/assign", json={"subject": "oscar"}, headers=admin)
        assert assigned.status_code == 200, assigned.text
        assert assigned.json() == {"borrower_id": str(borrower.id), "subject": "oscar", "perms": ["change", "view"]}
        # then oscar sees and changes it
        assert (await client.get(url, headers=oscar)).status_code == 200
        assert (await client.patch(url, json={"phone": "+1 555 0000"}, headers=oscar)).status_code == 200
        assert [i["id"] for i in (await client.get("/api/v1/borrowers", headers=oscar)).json()["items"]] == [
            str(borrower.id)]


async def test_view_only_assignment_reads_but_may_not_change(asgi_client):
    admin, oscar = bearer("acme", "admin"), bearer("acme", "loan_officer", sub="oscar")
    borrower = await amake_borrower(tenant="acme")
    url = f"/api/v1/borrowers/{borrower.id}"
    async with asgi_client as client:
        # given a view-only assignment
        r = await client.post(f"{url}/assign", json={"subject": "oscar", "perms": ["view"]}, headers=admin)
        assert r.status_code == 200
        # then oscar reads (200) but a change is forbidden (403), not hidden
        assert (await client.get(url, headers=oscar)).status_code == 200
        assert (await client.patch(url, json={"phone": "+1 555 0000"}, headers=oscar)).status_code == 403


async def test_assignment_never_crosses_tenants(asgi_client):
    # given a borrower of acme
    borrower = await amake_borrower(tenant="acme")
    async with asgi_client as client:
        # when globex's admin assigns it, then 404; an unknown borrower is 404 too
        other = await client.post(f"/api/v1/borrowers/{borrower.id}/assign", json={"subject": "gus"},
                                  headers=bearer("globex", "admin"))
        assert other.status_code == 404
        missing = await client.post(f"/api/v1/borrowers/{uuid.uuid4()}/assign", json={"subject": "gus"},
                                    headers=bearer("acme", "admin"))
        assert missing.status_code == 404
        # and globex's gus still cannot see it
        got = await client.get(f"/api/v1/borrowers/{borrower.id}", headers=bearer("globex", "loan_officer", sub="gus"))
        assert got.status_code == 404
