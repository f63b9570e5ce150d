"""Events the ledger consumes (``manage.py consume --service ledger``): thin adapters, message → service."""

from __future__ import annotations

from common.bus.catalogue import LoanDisbursed
from common.bus.envelope import Envelope
from common.bus.handlers import handles

from ledger.services import account_open


@handles("loans.loan.disbursed.v1", consumer="ledger")
def on_loan_disbursed(envelope: Envelope, payload: LoanDisbursed) -> None:
    """Open the loan's account; a redelivery (or a second event for the same loan) changes nothing."""
    account_open(event=payload)
