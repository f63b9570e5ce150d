"""Small helpers over the ASGI client for the loans API tests."""

from __future__ import annotations

from tests.conftest import ORACLES, product_body

API = "/api/v1"


async def create_product(client, headers, **overrides) -> dict:
    response = await client.post(f"{API}/products", json=product_body(**overrides), headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def create_loan(client, headers, *, borrower_id: str, product_id: str, principal: str = "10000.00",
                      term: int = 12) -> dict:
    response = await client.post(f"{API}/loans", headers=headers, json={
        "borrower_id": borrower_id, "product_id": product_id, "principal": principal, "term": term})
    assert response.status_code == 201, response.text
    return response.json()


async def transition(client, headers, loan_id: str, action: str, body: dict | None = None):
    return await client.post(f"{API}/loans/{loan_id}/{action}", json=body if body is not None else {},
                             headers=headers)


DISBURSE = {"disbursement_date": ORACLES[0]["request"]["disbursement_date"],
            "first_payment_date": ORACLES[0]["request"]["first_payment_date"]}


async def active_loan(client, headers, *, borrower_id: str, **product_overrides) -> tuple[dict, dict]:
    product = await create_product(client, headers, **product_overrides)
    loan = await create_loan(client, headers, borrower_id=borrower_id, product_id=product["id"])
    assert (await transition(client, headers, loan["id"], "approve")).status_code == 200
    response = await transition(client, headers, loan["id"], "disburse", DISBURSE)
    assert response.status_code == 200, response.text
    return product, response.json()
