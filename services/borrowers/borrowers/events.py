"""Integration events the borrowers service emits; payload models and wire names live in
``common.bus.catalogue`` (one definition for producers and consumers)."""

from common.bus.catalogue import BorrowerCreated, BorrowerKycFailed, BorrowerKycVerified, BorrowerUpdated

EMITTED = (BorrowerCreated, BorrowerUpdated, BorrowerKycVerified, BorrowerKycFailed)
