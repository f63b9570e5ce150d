"""Ledger events the payments service consumes (``manage.py consume --service payments``).

Thin adapters: the consumer runs each inside one transaction with its inbox insert and the tenant
restored; the service functions they call are state-guarded, so a replay or a late message is harmless.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from common.bus.catalogue import PaymentAllocated, PaymentReversed
from common.bus.envelope import Envelope
from common.bus.handlers import handles

from payments.services import payment_allocate_tx, payment_mark_reversed_tx

CONSUMER = "payments"


@handles("ledger.payment.allocated.v1", consumer=CONSUMER)
def on_payment_allocated(envelope: Envelope, payload: PaymentAllocated) -> None:
    payment_allocate_tx(payment_id=uuid.UUID(payload.payment_id), fees=Decimal(payload.fees),
                        interest=Decimal(payload.interest), principal=Decimal(payload.principal),
                        overpayment=Decimal(payload.overpayment), trace=list(payload.trace),
                        sequence=payload.sequence)


@handles("ledger.payment.reversed.v1", consumer=CONSUMER)
def on_payment_reversed(envelope: Envelope, payload: PaymentReversed) -> None:
    payment_mark_reversed_tx(payment_id=uuid.UUID(payload.payment_id))
