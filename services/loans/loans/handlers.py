"""Ledger events the loans service consumes (docs/integration.md): thin adapters, message → projection.

Each handler is sync and runs inside the consumer's transaction, with the inbox insert and the
tenant restored from the envelope. A failure raises (retry, then dead-letter), never acks and drops.
"""

from __future__ import annotations

from common.bus import catalogue as ev
from common.bus.envelope import Envelope
from common.bus.handlers import handles, retire

from loans import projection

CONSUMER = "loans"

# The ledger posts every payment and reversal as ``transaction_posted`` in the same transaction as these two
# events, so listing them from both cost a third of this consumer's work per payment for rows the ledger's
# record replaced anyway (bench/README.md §2). Unbound from loans.events; stragglers are acked.
_LEDGER_RECORDS_IT = "the ledger's transaction_posted of the same transaction lists the movement"
retire("ledger.payment.allocated.v1", consumer=CONSUMER, why=_LEDGER_RECORDS_IT)
retire("ledger.payment.reversed.v1", consumer=CONSUMER, why=_LEDGER_RECORDS_IT)


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


@handles("ledger.accrual_run.progressed.v1", consumer=CONSUMER)
def on_accrual_run_progressed(envelope: Envelope, payload) -> None:
    projection.accrual_run_progressed_apply(payload=_parse(ev.AccrualRunProgressed, payload))
