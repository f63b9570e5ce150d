"""Integration events the borrowers service emits (payload models live in ``common.bus.catalogue``)."""

from __future__ import annotations

from typing import Any, TypeVar

from common.bus.catalogue import (
    BorrowerCreated,
    BorrowerKycFailed,
    BorrowerKycVerified,
    BorrowerUpdated,
    Payload,
)

P = TypeVar("P", bound=Payload)

__all__ = ["BorrowerCreated", "BorrowerUpdated", "BorrowerKycVerified", "BorrowerKycFailed", "build_event"]


def build_event(model: type[P], **fields: Any) -> P:
    # ``Payload.EVENT_TYPE`` is declared as a pydantic field, so an instance reads "" unless it is
    # passed explicitly; passing it keeps outbox_add routing by the wire name (harmless once it
    # becomes a ClassVar: the catalogue ignores unknown fields).
    return model(EVENT_TYPE=model.EVENT_TYPE, **fields)
