"""Recording the processor's acceptance of a charge (one UPDATE on the request path)."""

import uuid
from datetime import date
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from common.tenancy import tenant_context
from payments.charging import _record_charge
from payments.models import Payment

pytestmark = pytest.mark.django_db(transaction=True)


@sync_to_async
def _payment(**fields) -> Payment:
    with tenant_context("acme"):
        return Payment.objects.create(loan_id=uuid.uuid4(), amount=Decimal("10.00"), currency="USD", method="ach",
                                      value_date=date(2025, 2, 1), created_by="test", **fields)


@sync_to_async
def _record(payment: Payment, reference: str) -> Payment:
    with tenant_context("acme"):
        _record_charge(payment_id=payment.id, reference=reference)
    return Payment.all_tenants.get(pk=payment.pk)


async def test_the_reference_is_recorded_and_the_retry_schedule_cleared():
    payment = await _payment(last_charge_error="timeout")
    row = await _record(payment, "ch_1")
    assert (row.processor_reference, row.charge_attempts, row.next_charge_at, row.last_charge_error) == \
        ("ch_1", 1, None, "")


async def test_a_reference_already_recorded_by_an_overtaking_callback_is_kept():
    payment = await _payment(processor_reference="ch_from_callback")
    row = await _record(payment, "ch_other")
    assert row.processor_reference == "ch_from_callback"
    assert row.charge_attempts == 1 and row.next_charge_at is None


async def test_another_tenants_payment_is_not_touched():
    payment = await _payment()
    with tenant_context("globex"):
        await sync_to_async(_record_charge)(payment_id=payment.id, reference="ch_x")
    row = await sync_to_async(Payment.all_tenants.get)(pk=payment.pk)
    assert row.processor_reference == "" and row.charge_attempts == 0
