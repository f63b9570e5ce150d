"""Ledger events consumed by payments, delivered through the bus consumer's own delivery path
(``common.bus.consumer.handle_delivery``: inbox row + handlers in one transaction, tenant restored)."""

import uuid

import payments.handlers  # noqa: F401  (registers the handlers, as the consumer's autodiscover does)
import pika
import pytest
from asgiref.sync import sync_to_async
from common.bus.config import bus_settings
from common.bus.consumer import handle_delivery
from common.bus.envelope import Envelope
from common.testing import bearer

from tests.factories import outbox, payment_request, payment_row, post_payment

pytestmark = pytest.mark.django_db(transaction=True)


def _envelope(event_type: str, payload: dict, tenant: str = "acme") -> bytes:
    return Envelope(event_type=event_type, tenant_id=tenant, payload=payload).to_json()


@sync_to_async(thread_sensitive=False)
def deliver(body: bytes):
    return handle_delivery("payments", body, pika.BasicProperties(headers={}), bus_settings())


def allocated(payment_id: str, **amounts) -> dict:
    return {"loan_id": str(uuid.uuid4()), "sequence": 3, "payment_id": payment_id, "value_date": "2025-02-01",
            "fees": "0.00", "interest": "10.00", "principal": "240.00", "overpayment": "0.00",
            "trace": [{"rule": "interest", "amount": "10.00"}], **amounts}


@pytest.fixture
async def settled(client, loans_api, processor, payments_http) -> dict:
    from common.testing import await_until

    loan_id = loans_api.add("acme")
    created = (await post_payment(client, "acme", payment_request(loan_id))).json()

    async def is_settled():
        return (await payment_row(created["id"])).status == "settled"

    await await_until(is_settled, timeout=10, message="payment settled")
    return created


async def test_allocated_marks_the_payment_allocated_with_its_breakdown_once(client, settled):
    # given a settled payment; when the ledger's allocation arrives, and is redelivered
    body = _envelope("ledger.payment.allocated.v1", allocated(settled["id"]))
    first, again = await deliver(body), await deliver(body)
    # then it is allocated with the breakdown, the redelivery a duplicate
    assert (first.outcome, again.outcome) == ("handled", "duplicate")
    shown = (await client.get(f"/api/v1/payments/{settled['id']}", headers=bearer("acme", "viewer"))).json()
    assert shown["status"] == "allocated"
    assert shown["allocation"] == {"fees": "0.00", "interest": "10.00", "principal": "240.00", "overpayment": "0.00"}
    assert (await payment_row(settled["id"])).allocation_trace == [{"rule": "interest", "amount": "10.00"}]


async def test_a_second_allocation_with_another_event_id_changes_nothing(client, settled):
    await deliver(_envelope("ledger.payment.allocated.v1", allocated(settled["id"])))
    await deliver(_envelope("ledger.payment.allocated.v1", allocated(settled["id"], principal="1.00")))
    assert (await payment_row(settled["id"])).allocated_principal == 240


async def test_a_re_split_from_the_ledger_replaces_the_allocation_and_a_late_older_one_does_not(client, settled):
    # given an allocated payment (sequence 3)
    await deliver(_envelope("ledger.payment.allocated.v1", allocated(settled["id"])))
    # when a back-dated payment before it makes the ledger re-split it (sequence 9), and an event of sequence 7
    # arrives late
    await deliver(_envelope("ledger.payment.allocated.v1", allocated(
        settled["id"], sequence=9, interest="4.00", principal="246.00", reallocated=True,
        trace=[{"rule": "interest", "amount": "4.00"}])))
    await deliver(_envelope("ledger.payment.allocated.v1", allocated(settled["id"], sequence=7, interest="6.00",
                                                                     principal="244.00", reallocated=True)))
    # then the payment shows the newest split, still allocated
    shown = (await client.get(f"/api/v1/payments/{settled['id']}", headers=bearer("acme", "viewer"))).json()
    assert shown["status"] == "allocated"
    assert shown["allocation"] == {"fees": "0.00", "interest": "4.00", "principal": "246.00", "overpayment": "0.00"}
    row = await payment_row(settled["id"])
    assert (row.allocation_sequence, row.allocation_trace) == (9, [{"rule": "interest", "amount": "4.00"}])


async def test_an_allocation_for_another_tenant_is_not_applied(client, settled):
    verdict = await deliver(_envelope("ledger.payment.allocated.v1", allocated(settled["id"]), tenant="globex"))
    # the payment does not exist for globex: the handler fails and the consumer schedules a retry
    assert verdict.action in {"retry", "dead_letter"}
    assert (await payment_row(settled["id"])).status == "settled"


async def test_return_after_allocation_then_the_ledger_reversal_keeps_it_returned(client, settled):
    # given an allocated payment that a collector returns
    await deliver(_envelope("ledger.payment.allocated.v1", allocated(settled["id"])))
    returned = await client.post(f"/api/v1/payments/{settled['id']}/return", json={"reason": "R01"},
                                 headers=bearer("acme", "collector"))
    assert returned.status_code == 200 and returned.json()["status"] == "returned"
    assert returned.json()["allocation"]["principal"] == "240.00"
    [command] = await outbox("ledger.reverse_payment")
    assert command.body["args"] == [settled["id"], "R01"]
    # when the ledger confirms the reversal
    reversed_ = {"loan_id": str(uuid.uuid4()), "sequence": 4, "payment_id": settled["id"], "fees": "0.00",
                 "interest": "10.00", "principal": "240.00", "overpayment": "0.00"}
    verdict = await deliver(_envelope("ledger.payment.reversed.v1", reversed_))
    # then it stays returned and nothing more is emitted
    assert verdict.outcome == "handled"
    assert (await payment_row(settled["id"])).status == "returned"
    assert len(await outbox("payments.payment.returned.v1")) == 1


async def test_a_reversal_of_a_settled_payment_marks_it_returned(client, settled):
    reversed_ = {"loan_id": str(uuid.uuid4()), "sequence": 4, "payment_id": settled["id"], "fees": "0.00",
                 "interest": "0.00", "principal": "0.00", "overpayment": "0.00"}
    await deliver(_envelope("ledger.payment.reversed.v1", reversed_))
    assert (await payment_row(settled["id"])).status == "returned"
    assert len(await outbox("payments.payment.returned.v1")) == 1
