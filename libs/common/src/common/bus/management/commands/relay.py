"""``manage.py relay``: publish this service's outbox (events with pika, commands with Celery)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from common.bus.config import bus_settings
from common.bus.management.commands._common import add_metrics_port, start_metrics


class Command(BaseCommand):
    help = "Relay committed outbox rows to RabbitMQ until SIGTERM (or, with --once, until the outbox is empty)."

    def add_arguments(self, parser):
        settings = bus_settings()
        parser.add_argument("--batch-size", type=int, default=settings.relay_batch_size,
                            help="rows claimed per transaction (env LENDSIMPLE_RELAY_BATCH_SIZE)")
        parser.add_argument("--sweep-ms", type=int, default=settings.relay_sweep_ms,
                            help="sweep interval without NOTIFY (env LENDSIMPLE_RELAY_SWEEP_MS)")
        parser.add_argument("--once", action="store_true", help="drain the outbox once and exit")
        add_metrics_port(parser, "LENDSIMPLE_RELAY_METRICS_PORT")

    def handle(self, *args, batch_size: int, sweep_ms: int, once: bool, metrics_port: int, **options):
        from common.bus.relay import Relay

        start_metrics(metrics_port)
        relay = Relay(batch_size=batch_size, sweep_ms=sweep_ms)
        if once:
            try:
                sent = relay.drain()
            finally:
                relay.close()
            self.stdout.write(f"sent {sent} outbox row(s)")
            return
        relay.run()
