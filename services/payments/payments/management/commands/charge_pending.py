"""``python manage.py charge_pending``: ask the processor again for pending payments it never accepted.

Runs as a long-lived loop next to the API (``--once`` for a single pass). A payment is committed
before the processor is first asked, so an outage at that moment leaves it ``pending`` with a
backoff; this sweep is what makes sure it is charged once the processor answers again.
"""

from __future__ import annotations

import asyncio
import signal

import structlog
from django.core.management.base import BaseCommand

from payments.charging import charge_due_payments

log = structlog.get_logger(__name__)


class Command(BaseCommand):
    help = "Retry processor charges of pending payments (loop; --once for one pass)"

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=2.0, help="seconds between sweeps")
        parser.add_argument("--batch", type=int, default=100)
        parser.add_argument("--once", action="store_true")

    def handle(self, *args, interval: float, batch: int, once: bool, **options):
        asyncio.run(self._run(interval=interval, batch=batch, once=once))

    async def _run(self, *, interval: float, batch: int, once: bool) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        log.info("charge_pending.started", interval=interval)
        while not stop.is_set():
            try:
                accepted = await charge_due_payments(limit=batch)
                if accepted:
                    log.info("charge_pending.accepted", count=accepted)
            except Exception:   # a sweep that dies stops retrying everything: log and go on
                log.exception("charge_pending.sweep_failed")
            if once:
                return
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
            except TimeoutError:
                pass
