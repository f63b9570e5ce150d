"""Integration events the borrowers service consumes: its own ``created``/``updated`` → the KYC check.

Thin adapters: message → ``kyc.borrower_kyc_check``. Failure policy: a provider timeout or outage
raises (nothing is written), so the bus retries with back-off and, after its bounded retries,
dead-letters the message; ``manage.py kyc_sweep`` re-checks any borrower still pending, so an
outage never loses a check.
"""

from __future__ import annotations

import uuid

from common.bus.catalogue import BorrowerCreated, BorrowerUpdated
from common.bus.envelope import Envelope
from common.bus.handlers import handles

from borrowers.kyc import borrower_kyc_check

CONSUMER = "borrowers"


@handles("borrowers.borrower.created.v1", consumer=CONSUMER)
def on_borrower_created(envelope: Envelope, payload: BorrowerCreated) -> None:
    borrower_kyc_check(borrower_id=uuid.UUID(payload.borrower_id), causation_id=str(envelope.event_id))


@handles("borrowers.borrower.updated.v1", consumer=CONSUMER)
def on_borrower_updated(envelope: Envelope, payload: BorrowerUpdated) -> None:
    # Only an update that sent the borrower back to pending (a changed name or date of birth) needs a check.
    if payload.kyc_status == "pending":
        borrower_kyc_check(borrower_id=uuid.UUID(payload.borrower_id), causation_id=str(envelope.event_id))
