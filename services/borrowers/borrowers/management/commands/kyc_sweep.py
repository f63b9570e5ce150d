"""``manage.py kyc_sweep [--older-than 300] [--limit 200] [--loop --interval 60]``: re-check borrowers
left in KYC ``pending`` (e.g. after an identity-provider outage outlasted the bus's retries)."""

from __future__ import annotations

import time
from datetime import timedelta

from django.core.management.base import BaseCommand

from borrowers.kyc import borrowers_kyc_sweep


class Command(BaseCommand):
    help = "Re-run the identity check of borrowers stuck in KYC pending"

    def add_arguments(self, parser):
        parser.add_argument("--older-than", type=int, default=300, help="seconds pending before a re-check")
        parser.add_argument("--limit", type=int, default=200, help="borrowers per sweep")
        parser.add_argument("--loop", action="store_true", help="sweep forever, every --interval seconds")
        parser.add_argument("--interval", type=int, default=60)

    def handle(self, *args, older_than: int, limit: int, loop: bool, interval: int, **options):
        while True:
            counts = borrowers_kyc_sweep(older_than=timedelta(seconds=older_than), limit=limit)
            self.stdout.write(" ".join(f"{k}={v}" for k, v in counts.items()))
            if not loop:
                return
            time.sleep(interval)
