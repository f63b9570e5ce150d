"""``manage.py declare_topology``: declare the exchanges and this service's queues (idempotent)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from common.bus.amqp import close_quietly, connect


class Command(BaseCommand):
    help = ("Declare lendsimple.events, lendsimple.dlx, the Celery command queue (ledger) with its DLQ and, for "
            "every consumer whose handlers this service registers (or each --service given), <service>.events "
            "with its bindings, retry queues and DLQ.")

    def add_arguments(self, parser):
        parser.add_argument("--service", action="append", default=[],
                            help="only this consumer (repeatable); default: every registered consumer")

    def handle(self, *args, service: list[str], verbosity: int, **options):
        from common.bus.handlers import autodiscover, event_types_for, retired_for, subscriptions
        from common.bus.topology import declare_exchanges, declare_service, ensure_command_queue
        from common.commands import LEDGER_QUEUE

        autodiscover()
        wanted = {name: event_types_for(name) for name in service} if service else subscriptions()
        conn = connect("declare-topology")
        try:
            channel = conn.channel()
            declare_exchanges(channel)
            # every service publishes commands to it (relay → send_task), so every service may declare it
            ensure_command_queue(conn, LEDGER_QUEUE)
            for name, types in wanted.items():
                queues = declare_service(channel, name, types, retired=retired_for(name))
                if verbosity:
                    self.stdout.write(f"{queues.main}: {len(types)} binding(s); retry {', '.join(queues.retry_queues)}; "
                                      f"dlq {queues.dlq}")
        except Exception as exc:
            raise CommandError(f"declaring the topology failed: {exc!r}") from exc
        finally:
            close_quietly(conn)
        if verbosity and not wanted:
            self.stdout.write("exchanges declared; this service registers no handlers")
