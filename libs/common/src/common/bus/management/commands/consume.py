"""``manage.py consume --service <name>``: run the service's event handlers off its queue."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from common.bus.config import bus_settings
from common.bus.management.commands._common import add_metrics_port, start_metrics


class Command(BaseCommand):
    help = "Consume <service>.events with the handlers registered for the service, until SIGTERM."

    def add_arguments(self, parser):
        parser.add_argument("--service", required=True, help="consumer name used in @handles(..., consumer=...)")
        parser.add_argument("--prefetch", type=int, default=bus_settings().prefetch,
                            help="unacked messages held at once (env LENDSIMPLE_BUS_PREFETCH)")
        add_metrics_port(parser, "LENDSIMPLE_CONSUMER_METRICS_PORT")

    def handle(self, *args, service: str, prefetch: int, metrics_port: int, **options):
        from common.bus.consumer import Consumer
        from common.bus.handlers import autodiscover

        autodiscover()
        start_metrics(metrics_port)
        Consumer(service, prefetch=prefetch).run()
