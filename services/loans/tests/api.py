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


def outbox(tenant: str, name: str | None = None) -> list[dict]:
    """The outbox rows of a tenant (events and commands), oldest first (sync; wrap in sync_to_async)."""
    from common.bus.models import OutboxMessage

    qs = OutboxMessage.objects.filter(tenant_id=tenant).order_by("id")
    if name:
        qs = qs.filter(name=name)
    return [{"name": m.name, "kind": m.kind, "body": m.body} for m in qs]


def count_rows(model, tenant: str) -> int:
    return model.all_tenants.filter(tenant_id=tenant).count()


def deliver(tenant: str, event_type: str, payload: dict, *, occurred_at=None):
    """One event through the consumer's own path (``handle_delivery``: registry, inbox and handler in one
    transaction, tenant restored); a handler's failure is raised. Returns the verdict."""
    import pika
    from common.bus.config import bus_settings
    from common.bus.consumer import handle_delivery
    from common.bus.envelope import Envelope
    from common.bus.handlers import autodiscover

    autodiscover()
    extra = {"occurred_at": occurred_at} if occurred_at else {}
    envelope = Envelope(event_type=event_type, tenant_id=tenant, payload=payload, **extra)
    properties = pika.BasicProperties(message_id=str(envelope.event_id), headers={})
    verdict = handle_delivery("loans", envelope.to_json(), properties, bus_settings())
    if isinstance(verdict.error, BaseException):
        raise verdict.error
    assert verdict.outcome in ("handled", "retired"), verdict
    return verdict


def balances(principal="0.00", interest="0.00", fees="0.00") -> dict:
    from decimal import Decimal

    total = Decimal(principal) + Decimal(interest) + Decimal(fees)
    return {"principal": principal, "interest": interest, "fees": fees, "total": f"{total:.2f}"}


def delinquency(loan_id: str, sequence: int, dpd: int, *, as_of="2024-06-01") -> dict:
    return {"loan_id": loan_id, "sequence": sequence, "as_of": as_of, "days_past_due": dpd,
            "previous_bucket": "current", "bucket": "dpd_90_119" if dpd >= 90 else "dpd_1_29"}
