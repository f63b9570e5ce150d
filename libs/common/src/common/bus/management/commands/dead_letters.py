"""``manage.py dead_letters --service <name> | --queue ledger  list|replay [--limit N]``."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from common.commands import COMMAND_QUEUES


class Command(BaseCommand):
    help = ("List the dead letters of <service>.events.dlq (they stay there), or replay them: move them back "
            "to <service>.events with the attempt count reset. With --queue ledger: the Celery commands "
            "rejected to ledger.dlq, replayed to ledger.")

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["list", "replay"])
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--service", help="a consuming service: <service>.events.dlq")
        target.add_argument("--queue", choices=COMMAND_QUEUES, help="a Celery command queue: <queue>.dlq")
        parser.add_argument("--limit", type=int, default=None,
                            help="at most N messages (list: default 100; replay: default all there are now)")

    def handle(self, *args, action: str, service: str | None, queue: str | None, limit: int | None, **options):
        from common.bus.dead_letters import (
            list_command_dead_letters,
            list_dead_letters,
            replay_command_dead_letters,
            replay_dead_letters,
        )
        from common.bus.handlers import autodiscover

        autodiscover()
        if queue:
            found = (list_command_dead_letters(queue, limit=100 if limit is None else limit) if action == "list"
                     else replay_command_dead_letters(queue, limit=limit))
            for item in found:
                self.stdout.write(json.dumps(item, default=str))
            self.stderr.write(f"{len(found)} command(s) {'listed' if action == 'list' else 'replayed to ' + queue}")
        elif action == "list":
            found = list_dead_letters(service, limit=100 if limit is None else limit)
            for item in found:
                self.stdout.write(json.dumps(item, default=str))
            self.stderr.write(f"{len(found)} dead letter(s) listed")
        else:
            replayed = replay_dead_letters(service, limit=limit)
            for item in replayed:
                self.stdout.write(json.dumps({k: item[k] for k in ("event_id", "event_type", "reason", "attempts")},
                                             default=str))
            self.stderr.write(f"{len(replayed)} dead letter(s) replayed to the main queue")
