"""Ledger events the loans service consumes (docs/integration.md): thin adapters, message → projection.

Each handler is sync and runs inside the consumer's transaction, with the inbox insert and the
tenant restored from the envelope. A failure raises (retry, then dead-letter), never acks and drops.
"""

from __future__ import annotations

from common.bus import catalogue as ev
from common.bus.envelope import Envelope
from common.bus.handlers import handles

from loans import projection

CONSUMER = "loans"


def _parse(model: type[ev.Payload], payload) -> ev.Payload:
    return payload if isinstance(payload, model) else model.model_validate(payload)


@handles("ledger.loan.balance_changed.v1", consumer=CONSUMER)
def on_balance_changed(envelope: Envelope, payload) -> None:
    projection.balance_changed_apply(payload=_parse(ev.BalanceChanged, payload),
                                     as_of=envelope.occurred_at.date())


@handles("ledger.loan.delinquency_changed.v1", consumer=CONSUMER)
def on_delinquency_changed(envelope: Envelope, payload) -> None:
    projection.delinquency_changed_apply(payload=_parse(ev.DelinquencyChanged, payload))


@handles("ledger.loan.transaction_posted.v1", consumer=CONSUMER)
def on_transaction_posted(envelope: Envelope, payload) -> None:
    projection.transaction_posted_apply(payload=_parse(ev.TransactionPosted, payload))


@handles("ledger.payment.allocated.v1", consumer=CONSUMER)
def on_payment_allocated(envelope: Envelope, payload) -> None:
    projection.payment_allocated_apply(payload=_parse(ev.PaymentAllocated, payload))


@handles("ledger.payment.reversed.v1", consumer=CONSUMER)
def on_payment_reversed(envelope: Envelope, payload) -> None:
    projection.payment_reversed_apply(payload=_parse(ev.PaymentReversed, payload),
                                      as_of=envelope.occurred_at.date())


@handles("ledger.accrual_run.progressed.v1", consumer=CONSUMER)
def on_accrual_run_progressed(envelope: Envelope, payload) -> None:
    projection.accrual_run_progressed_apply(payload=_parse(ev.AccrualRunProgressed, payload))
