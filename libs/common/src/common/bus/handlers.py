"""Registry of event handlers, per consuming service.

A service declares what it consumes in ``<app>/handlers.py``::

    from common.bus.handlers import handles
    from common.bus.catalogue import LoanDisbursed

    @handles("loans.loan.disbursed.v1", consumer="ledger")
    def open_account(envelope, payload: LoanDisbursed) -> None:
        account_open(loan_id=payload.loan_id, ...)      # thin: message -> service call

Handlers are sync. The consumer calls them inside one ``transaction.atomic()`` together with the inbox
insert, with the envelope's tenant and correlation id restored, so a handler just uses the ORM and
``outbox_add`` as any service function does. ``manage.py consume --service ledger`` imports the
``handlers`` module of every installed app (``autodiscover``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from common.bus.catalogue import Payload, payload_model
from common.bus.envelope import Envelope

Handler = Callable[[Envelope, Payload], None]


@dataclass(frozen=True)
class Registration:
    consumer: str
    event_type: str
    handler: Handler

    @property
    def name(self) -> str:
        return f"{self.handler.__module__}.{self.handler.__qualname__}"


_REGISTRY: dict[str, dict[str, list[Registration]]] = defaultdict(lambda: defaultdict(list))
_RETIRED: dict[str, dict[str, str]] = defaultdict(dict)


def handles(event_type: str, *, consumer: str) -> Callable[[Handler], Handler]:
    """Register the decorated function as ``consumer``'s handler of ``event_type``."""
    try:
        payload_model(event_type)
    except KeyError:
        raise ValueError(f"{event_type!r} is not in the event catalogue (common.bus.catalogue)") from None

    def register(fn: Handler) -> Handler:
        registration = Registration(consumer=consumer, event_type=event_type, handler=fn)
        existing = _REGISTRY[consumer][event_type]
        if not any(r.name == registration.name for r in existing):   # a re-import registers nothing new
            existing.append(registration)
        return fn

    return register


def retire(event_type: str, *, consumer: str, why: str) -> None:
    """``consumer`` no longer handles ``event_type`` (it used to): ``declare_topology`` and the consumer unbind
    the type from ``<consumer>.events`` (bindings are otherwise only ever added), and one still in the queue
    from before is acknowledged and logged (``event.retired``), not dead-lettered as ``no_handler``."""
    _RETIRED[consumer][event_type] = why


def retired_for(consumer: str) -> list[str]:
    return sorted(t for t in _RETIRED.get(consumer, {}) if not handlers_for(consumer, t))


def handlers_for(consumer: str, event_type: str) -> list[Registration]:
    return list(_REGISTRY.get(consumer, {}).get(event_type, ()))


def event_types_for(consumer: str) -> list[str]:
    return sorted(t for t, regs in _REGISTRY.get(consumer, {}).items() if regs)


def consumers() -> list[str]:
    return sorted(c for c, types in _REGISTRY.items() if any(types.values()))


def subscriptions() -> dict[str, list[str]]:
    return {c: event_types_for(c) for c in consumers()}


def autodiscover() -> None:
    """Import ``<app>.handlers`` of every installed app (registration happens at import)."""
    from django.utils.module_loading import autodiscover_modules

    autodiscover_modules("handlers")
